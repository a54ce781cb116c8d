"""Retrieval latency (p50/p95) and peak memory of each route at 10k, 100k and 1M chunks (no
generation), so users see how cost grows with the index.

The collection is synthetic but built from real text: every chunk joins 3-6 real sentences of
the SQuAD paragraphs in ../shared (dev10 + train10), and its vector is the normalised mean of
those sentences' MiniLM vectors, so both the vocabulary (for BM25) and the geometry (for HNSW)
are real text's. Queries are real dev10 questions. Each size is built once into DIR/SIZE and
reused; each is measured in a fresh process, whose peak RSS (VmHWM) is its memory figure.
The lexical route is also compared with FTS5's own `bm25()` ranking over the same file (what it
was before it kept its own postings): latency, and how often both give the same top 20.

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000,1000000] [--queries 200] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag.embedding.onnx import OnnxEmbedder
from rag.retrieval import MultiRouteRetriever, RetrievalSettings
from rag.retrieval.lexical import SqliteLexicalIndex, query_words
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


def build(where: Path, n_chunks: int, embedder: OnnxEmbedder) -> tuple[ChromaStore, SqliteLexicalIndex]:
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


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(where: Path, n_queries: int) -> dict:
    """Open the index at `where` and time every route on `n_queries` dev10 questions."""
    embedder = OnnxEmbedder()
    embedder.load()
    store, lexical = ChromaStore(where / "index"), SqliteLexicalIndex(where / "index" / "lexical-documents.sqlite3")
    _, questions = real_text()
    questions = random.Random(1).sample(questions, n_queries)
    q = lambda values, p: round(statistics.quantiles(values, n=100)[p - 1], 2)  # noqa: E731
    routes = {}
    for mode, mmr in (("dense", None), ("lexical", None), ("hybrid", None), ("hybrid", 0.5)):
        retriever = MultiRouteRetriever(embedder, store, lexical, RetrievalSettings(mode=mode, mmr=mmr))
        retriever.retrieve(questions[0], 4)  # warm caches
        search, total = [], []
        for question in questions:
            found = retriever.retrieve(question, 4)
            search.append(found.search_seconds * 1000)
            total.append((found.search_seconds + found.embed_seconds) * 1000)
        routes[mode + (f"+mmr{mmr}" if mmr is not None else "")] = {
            "search_p50_ms": q(search, 50), "search_p95_ms": q(search, 95),
            "total_p50_ms": q(total, 50), "total_p95_ms": q(total, 95)}
    return {"chunks": store.count(), "routes": routes, "fts5": against_fts5(lexical, questions, q),
            "peak_rss_mb": round(peak_rss_mb())}


def against_fts5(lexical: SqliteLexicalIndex, questions: list[str], q: Callable) -> dict:
    """The lexical route before its own postings (FTS5's `bm25()` over the same words, on the
    same file): its latency, and on how many questions both give the same top 20 (ids, in order)."""
    db = sqlite3.connect(lexical.path)
    same, seconds = 0, []
    for question in questions:
        query = " OR ".join(f'"{w}"' for w in query_words(question))
        started = time.perf_counter()
        theirs = [row[0] for row in db.execute(
            "SELECT c.id FROM fts JOIN chunks c ON c.rid = fts.rowid WHERE fts MATCH ? "
            "ORDER BY bm25(fts), c.rid LIMIT 20", (query,))] if query else []
        seconds.append((time.perf_counter() - started) * 1000)
        same += theirs == [h.chunk.id for h in lexical.search(question, 20)]
    return {"search_p50_ms": q(seconds, 50), "search_p95_ms": q(seconds, 95),
            "same_top20": round(same / len(questions), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/localrag-bench-retrieval"))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the fresh measuring process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.queries)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    embedder = OnnxEmbedder()
    results = []
    for size in sizes:
        build(args.dir / str(size), size, embedder)
        done = subprocess.run([sys.executable, __file__, "--measure", str(args.dir / str(size)),
                               "--queries", str(args.queries)], capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps({"bench": "retrieval", "machine": f"{os.cpu_count()} cores", "queries": args.queries,
                      "k": 4, "candidates": 20, "sizes": results}))
    print(f"\nRetrieval, {os.cpu_count()} cores, {args.queries} dev10 questions, k = 4, candidates = 20; "
          "search = the routes, total = with the question's embedding:")
    for r in results:
        print(f"{r['chunks']:>9,d} chunks, peak RSS {r['peak_rss_mb']:,} MB")
        for name, t in r["routes"].items():
            print(f"    {name:16s} search p50 {t['search_p50_ms']:7.1f} ms  p95 {t['search_p95_ms']:7.1f} ms   "
                  f"total p50 {t['total_p50_ms']:7.1f} ms  p95 {t['total_p95_ms']:7.1f} ms")
        f = r["fts5"]
        print(f"    {'FTS5 bm25()':16s} search p50 {f['search_p50_ms']:7.1f} ms  p95 {f['search_p95_ms']:7.1f} ms   "
              f"(the lexical route before its own postings; same top 20 on {f['same_top20']:.1%} of questions)")


if __name__ == "__main__":
    main()
