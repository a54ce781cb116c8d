"""What a benchmark needs beyond the project's own install: the bench extras (LangChain's
community loaders and its Chroma store, the baselines compared against)."""

from __future__ import annotations

import importlib.util
import sys

BENCH_EXTRAS = ("langchain_community", "langchain_chroma")


def require_bench_extras(script: str) -> None:
    """Exit 2 with the command to run when the bench extras are not installed."""
    missing = [name for name in BENCH_EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        print(f"{script} compares against LangChain and needs the bench extras ({', '.join(missing)} missing): "
              "run `make bench`, or `.venv/bin/pip install -e .[bench]` first", file=sys.stderr)
        sys.exit(2)
