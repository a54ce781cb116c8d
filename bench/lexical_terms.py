"""A faster lexical route, tried and not kept: query FTS5 with only the N rarest words of the
question (document frequencies from an `fts5vocab` table, each word stemmed by a scratch FTS5
table with the index's tokenizer) instead of every content word. Prints p50/p95 of the full
and the reduced query and how many of the top 4 and top 20 chunks they share, on train10
questions (the tuning pool), over a collection that `bench/retrieval.py` built.

    .venv/bin/python bench/retrieval.py --sizes 100000   # builds the collection once
    .venv/bin/python bench/lexical_terms.py [--size 100000] [--keep 3 4] [--queries 40]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import time
from pathlib import Path

from rag.retrieval.lexical import query_words

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2"
SCRATCH = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.words USING fts5(word, tokenize='porter unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.word_stems USING fts5vocab(temp, words, instance);
CREATE VIRTUAL TABLE IF NOT EXISTS temp.frequencies USING fts5vocab(main, fts, row);
"""


def rarest(db: sqlite3.Connection, words: list[str], keep: int) -> list[str]:
    """The `keep` words with the fewest chunks holding them."""
    if len(words) <= keep:
        return words
    db.execute("DELETE FROM temp.words")
    db.executemany("INSERT INTO temp.words(rowid, word) VALUES (?, ?)", list(enumerate(words)))
    stem = {row: term for term, row in db.execute("SELECT term, doc FROM temp.word_stems")}
    terms = sorted(set(stem.values()))
    frequency = dict(db.execute(f"SELECT term, doc FROM temp.frequencies WHERE term IN ({','.join('?' * len(terms))})",
                                terms).fetchall())
    order = sorted(range(len(words)), key=lambda i: frequency.get(stem.get(i, ""), 0))
    return [words[i] for i in order[:keep]]


def top(db: sqlite3.Connection, words: list[str], k: int = 20) -> list[int]:
    query = " OR ".join(f'"{w}"' for w in words)
    return [r[0] for r in db.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (query, k))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--keep", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/localrag-bench-retrieval"))
    args = parser.parse_args()
    db = sqlite3.connect(str(args.dir / str(args.size) / "index" / "lexical-documents.sqlite3"))
    db.executescript(SCRATCH)
    questions = [qa["question"] for article in json.loads((SHARED / "train10.json").read_text())["data"]
                 for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    questions = random.Random(1).sample(questions, args.queries)

    def timed(run):  # noqa: ANN001, ANN202
        run(questions[0])
        spent, found = [], []
        for q in questions:
            started = time.perf_counter()
            found.append(run(q))
            spent.append((time.perf_counter() - started) * 1000)
        return found, round(statistics.median(spent), 1), round(statistics.quantiles(spent, n=20)[18], 1)

    full, p50, p95 = timed(lambda q: top(db, query_words(q)))
    result = {"bench": "lexical_terms", "machine": f"{os.cpu_count()} cores", "chunks": args.size,
              "queries": len(questions), "full": {"p50_ms": p50, "p95_ms": p95}, "rarest": {}}
    for keep in args.keep:
        found, p50, p95 = timed(lambda q, keep=keep: top(db, rarest(db, query_words(q), keep)))
        result["rarest"][keep] = {
            "p50_ms": p50, "p95_ms": p95,
            "top4_shared": round(statistics.mean(len(set(a[:4]) & set(b[:4])) / 4 for a, b in zip(full, found)), 2),
            "top20_shared": round(statistics.mean(len(set(a) & set(b)) / 20 for a, b in zip(full, found)), 2)}
    print(json.dumps(result))
    print(f"\nLexical route, {args.size:,} chunks, {len(questions)} train10 questions: every content word "
          f"p50 {result['full']['p50_ms']} ms, p95 {result['full']['p95_ms']} ms")
    for keep, r in result["rarest"].items():
        print(f"  the {keep} rarest words: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms; top 4 shared with every word "
              f"{r['top4_shared']:.0%}, top 20 {r['top20_shared']:.0%}")


if __name__ == "__main__":
    main()
