"""Benchmarks that compare against LangChain say what to install, and exit 2, without the bench extras."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.skipif(importlib.util.find_spec("langchain_community") is not None, reason="the bench extras are installed")
@pytest.mark.parametrize("script", ["ingest.py", "ask.py"])
def test_a_bench_needing_the_extras_says_so_and_exits_2(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCH / script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "make bench" in done.stderr and "Traceback" not in done.stderr
