"""Retrieval latency of each route at 100k chunks (no generation).

The collection is synthetic but built from real text: every chunk joins 3-6 real sentences of
the SQuAD paragraphs in ../shared (dev10 + train10), and its vector is the normalised mean of
those sentences' MiniLM vectors, so both the vocabulary (for BM25) and the geometry (for HNSW)
are real text's. Queries are real dev10 questions. Built once into --dir and reused.

    .venv/bin/python bench/bench_retrieval.py [--chunks 100000] [--queries 200] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path

import numpy as np

from rag.embedder import SentenceTransformerEmbedder
from rag.lexical_index import SqliteLexicalIndex
from rag.retrieval import MultiRouteRetriever, RetrievalSettings
from rag.store import ChromaStore
from rag.types import Chunk

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2"


def real_text() -> tuple[list[str], list[str]]:
    """(sentences of every paragraph, dev10 questions)."""
    sentences, questions = [], []
    for name in ("dev10.json", "train10.json"):
        for article in json.loads((SHARED / name).read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                sentences += [s for s in re.split(r"(?<=[.!?])\s+", paragraph["context"]) if len(s) > 20]
                if name == "dev10.json":
                    questions += [qa["question"] for qa in paragraph["qas"]]
    return sentences, questions


def build(where: Path, n_chunks: int, embedder: SentenceTransformerEmbedder) -> tuple[ChromaStore, SqliteLexicalIndex]:
    store, lexical = ChromaStore(where / "index"), SqliteLexicalIndex(where / "index" / "lexical-documents.sqlite3")
    if store.count() >= n_chunks and lexical.count() >= n_chunks:
        return store, lexical
    sentences, _ = real_text()
    started = time.perf_counter()
    vectors = embedder.embed_documents(sentences, progress=True)
    print(f"embedded {len(sentences)} real sentences in {time.perf_counter() - started:.0f} s")
    rng = random.Random(0)
    started = time.perf_counter()
    for start in range(0, n_chunks, 5000):
        chunks, rows = [], []
        for i in range(start, min(start + 5000, n_chunks)):
            picked = rng.sample(range(len(sentences)), rng.randint(3, 6))
            text = " ".join(sentences[j] for j in picked)
            mean = vectors[picked].mean(axis=0)
            chunks.append(Chunk(f"doc{i // 50}.txt#c{i % 50}", text, f"doc{i // 50}.txt", None, i % 50, f"h{i}"))
            rows.append(mean / np.linalg.norm(mean))
        store.upsert(chunks, np.stack(rows))
        lexical.upsert(chunks)
        print(f"  {start + len(chunks)} chunks written ({time.perf_counter() - started:.0f} s)", flush=True)
    return store, lexical


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/localrag-bench-retrieval"))
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    store, lexical = build(args.dir, args.chunks, embedder)
    _, questions = real_text()
    questions = random.Random(1).sample(questions, args.queries)
    print(f"{store.count()} chunks; {args.queries} dev10 questions; k = 4, candidates = 20")
    started = time.perf_counter()
    store.ids()
    print(f"id-set check on open (store ids): {time.perf_counter() - started:.2f} s")
    print(f"{'route':22s} {'search p50':>10s} {'search p95':>10s} {'total p50':>10s} {'total p95':>10s}")
    for mode, mmr in (("dense", None), ("lexical", None), ("hybrid", None), ("hybrid", 0.5)):
        retriever = MultiRouteRetriever(embedder, store, lexical, RetrievalSettings(mode=mode, mmr=mmr))
        retriever.retrieve(questions[0], 4)  # warm caches
        search, total = [], []
        for question in questions:
            found = retriever.retrieve(question, 4)
            search.append(found.search_seconds * 1000)
            total.append((found.search_seconds + found.embed_seconds) * 1000)
        name = mode + (f" + mmr {mmr}" if mmr is not None else "")
        q = lambda values, p: statistics.quantiles(values, n=100)[p - 1]  # noqa: E731
        print(f"{name:22s} {q(search, 50):8.1f}ms {q(search, 95):8.1f}ms {q(total, 50):8.1f}ms {q(total, 95):8.1f}ms")


if __name__ == "__main__":
    main()
