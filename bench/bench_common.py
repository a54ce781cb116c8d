"""What the ask benches share: where the project and its `rag` command are, the environment they
run under, percentiles, and a temporary index of a data set's articles."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAG = str(ROOT / ".venv" / "bin" / "rag")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}


def pct(values: list[float], p: int) -> float | None:
    if not values:
        return None
    return round(statistics.quantiles(values, n=100)[p - 1], 3) if len(values) > 1 else round(values[0], 3)


@contextmanager
def ingested(data: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A temporary folder holding the articles of `data` as files and their index, made by
    `rag ingest`: (folder, documents, index)."""
    from rag.datasets import write_articles

    with tempfile.TemporaryDirectory() as tmp:
        docs, index = Path(tmp) / "docs", Path(tmp) / "index"
        write_articles(data, docs)
        subprocess.run([RAG, "ingest", str(docs), "--index", str(index)], capture_output=True, env=ENV, check=True)
        yield Path(tmp), docs, index


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, env=ENV, check=True)
    return round(time.perf_counter() - started, 2)
