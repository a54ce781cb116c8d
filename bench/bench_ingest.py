"""Ingest the dev10 SQuAD articles with the real MiniLM; print time and chunk count.

    .venv/bin/python bench/bench_ingest.py [../shared/data/squad2/dev10.json]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from rag import Pipeline
from rag.datasets import article_filename, article_markdown, load_squad_json

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared/data/squad2/dev10.json"


def main(dataset: str = str(DEFAULT)) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        for article in load_squad_json(dataset):
            (docs / article_filename(article["title"])).write_text(article_markdown(article), encoding="utf-8")
        pipeline = Pipeline(index=Path(tmp) / "index")
        started = time.perf_counter()
        first = pipeline.ingest(docs, progress=False)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        second = Pipeline(index=Path(tmp) / "index").ingest(docs, progress=False)
        warm = time.perf_counter() - started
        info = pipeline.info()
    print(f"files: {first.files_seen}  chunks: {info['chunks']}  embedded texts: {first.chunks_embedded}")
    print(f"first ingest: {cold:.1f} s ({first.chunks_upserted / cold:.1f} chunks/s, model load included)")
    print(f"second ingest (nothing changed): {warm:.2f} s, chunks upserted {second.chunks_upserted}")


if __name__ == "__main__":
    main(*sys.argv[1:])
