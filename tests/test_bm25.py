"""The lexical index's own BM25 (postings scored in NumPy) ranks and scores as SQLite FTS5's
`bm25()` does on the same texts, through upserts, replacements, deletions, merged blocks, a
rebuild, and an index file written before postings existed."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.retrieval.lexical import SqliteLexicalIndex, query_words
from rag.retrieval.lexical import postings as postings_module
from rag.retrieval.lexical.bm25 import DocStats, TermPostings, top_rows
from rag.types import Chunk

WORDS = ["owl", "bee", "honey", "hive", "nectar", "flower", "mouse", "night", "feather", "hunting", "hunted", "hunts", "river", "bank", "money", "loan", "city", "tower", "bridge", "stone", "king", "queen", "army", "battle", "war", "peace", "treaty", "café", "resume"]
QUESTIONS = ["Where do owls hunt at night? An owl hunting", "bee honey bees bee", "honey from the hive", "the king's army and the battle",
             "Café bridge", "hunting hunted hunts", "money loan bank", "treaty of peace after the war",
             "stone tower city river", "nothing matches xyzzy"]


def corpus(n: int, seed: int = 0) -> list[Chunk]:
    rng = random.Random(seed)
    return [Chunk(f"c{i}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))),
                  f"doc{i % 7}.txt", None, i, f"h{i}-{seed}") for i in range(n)]


def fts5_ranking(path: Path, question: str, k: int) -> list[tuple[str, float]]:
    """What FTS5's own bm25() gives for the same words (the pre-postings query)."""
    query = " OR ".join(f'"{w}"' for w in query_words(question))
    with sqlite3.connect(path) as db:
        return [(cid, -rank) for cid, rank in db.execute(
            "SELECT c.id, bm25(fts) AS rank FROM fts JOIN chunks c ON c.rid = fts.rowid "
            "WHERE fts MATCH ? ORDER BY rank, c.rid LIMIT ?", (query, k))]


def assert_same_as_fts5(index: SqliteLexicalIndex, k: int = 10) -> None:
    for question in QUESTIONS:
        ours = [(h.chunk.id, h.score) for h in index.search(question, k)]
        theirs = fts5_ranking(index.path, question, k)
        assert [cid for cid, _ in ours] == [cid for cid, _ in theirs], question
        assert [s for _, s in ours] == [s for _, s in theirs], question  # to the last bit


def test_scores_and_ranking_equal_fts5_bm25_through_replacements_and_deletions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postings_module, "MAX_BLOCKS", 4)
    index = SqliteLexicalIndex(tmp_path / "lex.sqlite3", progress=False)
    chunks = corpus(300)
    for start in range(0, 300, 9):  # 34 writes: common terms' blocks are merged
        index.upsert(chunks[start:start + 9])
    assert_same_as_fts5(index)
    index.upsert(corpus(60, seed=1))  # c0..c59 rewritten under the same ids
    index.delete([f"c{i}" for i in range(100, 160)])
    assert index.count() == 240
    assert_same_as_fts5(index)
    with sqlite3.connect(index.path) as db:
        blocks = db.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM postings GROUP BY term)").fetchone()[0]
    assert blocks <= 4


def test_a_deleted_last_row_never_lends_its_postings_to_a_new_chunk(tmp_path: Path) -> None:
    index = SqliteLexicalIndex(tmp_path / "lex.sqlite3", progress=False)
    index.upsert([Chunk("a", "owls hunt mice", "a.txt", None, 0, "h1"),
                  Chunk("b", "zebra crossing", "b.txt", None, 0, "h2")])
    index.delete(["b"])  # b had the largest row id; SQLite would hand it out again
    index.upsert([Chunk("c", "bees make honey", "c.txt", None, 0, "h3")])
    assert index.search("zebra", 5) == []
    assert [h.chunk.id for h in index.search("honey", 5)] == ["c"]


def test_mostly_deleted_postings_are_rebuilt_and_rank_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag.retrieval.lexical.index.BATCH", 10)
    index = SqliteLexicalIndex(tmp_path / "lex.sqlite3", progress=False)
    index.upsert(corpus(200))
    index.delete([f"c{i}" for i in range(40, 150)])  # 110 dead > 90 live: rebuilt
    with sqlite3.connect(index.path) as db:
        assert postings_module.meta(db, "dead_rows") == 0
        rows = {r for term_rows, in db.execute("SELECT rids FROM postings")
                for r in np.frombuffer(term_rows, dtype=postings_module.ROW_ID).tolist()}
        live = {r for (r,) in db.execute("SELECT rid FROM chunks")}
    assert rows == live
    assert_same_as_fts5(index)


def test_an_index_file_from_before_postings_gets_them_on_opening(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema and rows an older version wrote
        db.executescript("""
            CREATE TABLE chunks(rid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, source TEXT,
                page INTEGER, position INTEGER, content_hash TEXT, section TEXT);
            CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='porter unicode61 remove_diacritics 2');""")
        for rid, c in enumerate(corpus(120), start=1):
            db.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)", (rid, c.id, c.source, None, c.position,
                                                                          c.content_hash, ""))
            db.execute("INSERT INTO fts(rowid, text) VALUES (?, ?)", (rid, c.text))
    index = SqliteLexicalIndex(path, progress=False)
    assert index.count() == 120
    assert_same_as_fts5(index)
    index.upsert([Chunk("new", "owl owl owl", "n.txt", None, 0, "hn")])
    assert index.search("owl", 1)[0].chunk.id == "new"


def test_a_second_connection_sees_the_first_ones_writes(tmp_path: Path) -> None:
    writer = SqliteLexicalIndex(tmp_path / "lex.sqlite3", progress=False)
    reader = SqliteLexicalIndex(tmp_path / "lex.sqlite3", progress=False)
    writer.upsert(corpus(50))
    assert reader.search("honey", 3) == writer.search("honey", 3) != []
    writer.upsert([Chunk("late", "xylophone", "x.txt", None, 0, "hx")])
    assert [h.chunk.id for h in reader.search("xylophone", 3)] == ["late"]


def test_top_rows_matches_a_hand_computed_bm25() -> None:
    # rows 1..3, lengths 4, 2, 6 (mean 4); term t in rows 1 (twice) and 3; row 2 deleted → not live
    stats = DocStats.from_rows(np.array([1, 3]), np.array([4, 6]), size=4)
    term = TermPostings(np.array([1, 2, 3], dtype=np.uint32), np.array([2, 1, 1], dtype=np.uint16))
    idf = 1e-6  # n = 2 of N = 2 rows: log(0.5 / 2.5) < 0
    mean = 5.0
    expected = {r: idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * dl / mean)) for r, tf, dl in ((1, 2, 4), (3, 1, 6))}
    got = top_rows(stats, [term], 5)
    assert [r for r, _ in got] == [1, 3]
    assert all(math.isclose(s, expected[r], rel_tol=1e-12) for r, s in got)
    allowed = np.array([False, False, False, True])
    assert [r for r, _ in top_rows(stats, [term], 5, allowed)] == [3]
    assert top_rows(stats, [term], 1) == got[:1]
    # five rows of equal length holding the term once: equal scores, so the lowest ids win
    tied = DocStats.from_rows(np.arange(10), np.full(10, 3), size=10)
    once = TermPostings(np.array([9, 7, 5, 3, 1], dtype=np.uint32), np.ones(5, dtype=np.uint16))
    assert [r for r, _ in top_rows(tied, [once], 2)] == [1, 3]
