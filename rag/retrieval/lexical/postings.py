"""Term postings beside the FTS5 table, so that BM25 is scored in NumPy (rag/retrieval/lexical/bm25.py)
rather than by FTS5's `bm25()`, which calls back into SQLite for every chunk holding any query
word (about a quarter of a second at 1M chunks in bench/retrieval.py).

Terms are FTS5's own: texts and query words go through FTS5's tokenizer on a scratch table,
and `fts5vocab` reads the terms back, so the postings agree with the FTS5 table term for term.

Layout: one row per (term, block); a block holds a term's postings from one write, as two
packed arrays (row ids, counts). A term's newest blocks are merged when it has more than
MAX_BLOCKS, so a query reads a few blobs per term however many writes there were. Deleted rows
stay in the postings until the index is rebuilt; queries skip them by the live rows' table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence

import numpy as np

from rag.retrieval.lexical.bm25 import TermPostings

TOKENIZE = "porter unicode61 remove_diacritics 2"
MAX_BLOCKS = 16
SCHEMA = """
CREATE TABLE IF NOT EXISTS postings(term TEXT NOT NULL, block INTEGER NOT NULL, rids BLOB NOT NULL,
    counts BLOB NOT NULL, PRIMARY KEY(term, block)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lexical_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
ROW_ID = np.dtype("<u4")
COUNT = np.dtype("<u2")


class Fts5Tokenizer:
    """FTS5's tokenizer (`TOKENIZE`), run on a scratch table of a private in-memory database
    whose inserts are rolled back, so it keeps nothing."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.executescript(f"CREATE VIRTUAL TABLE scratch USING fts5(text, tokenize='{TOKENIZE}');"
                               "CREATE VIRTUAL TABLE scratch_terms USING fts5vocab(scratch, instance);")

    def term_counts(self, texts: Sequence[tuple[int, str]]) -> list[tuple[str, int, int]]:
        """(term, row id, count in that text) for every term of each (row id, text), sorted by
        term, then row id."""
        with self._lock:
            try:
                self._db.executemany("INSERT INTO scratch(rowid, text) VALUES (?, ?)", texts)
                return self._db.execute(
                    "SELECT term, doc, count(*) FROM scratch_terms GROUP BY term, doc").fetchall()
            finally:
                self._db.rollback()

    def word_terms(self, words: Sequence[str]) -> list[str]:
        """The terms of `words`, in order (a word may give none, or several: "foo_bar")."""
        with self._lock:
            try:
                self._db.executemany("INSERT INTO scratch(rowid, text) VALUES (?, ?)", enumerate(words))
                rows = self._db.execute("SELECT term FROM scratch_terms ORDER BY doc, offset").fetchall()
            finally:
                self._db.rollback()
        return [term for (term,) in rows]


def meta(db: sqlite3.Connection, key: str, default: int = 0) -> int:
    row = db.execute("SELECT value FROM lexical_meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else default


def set_meta(db: sqlite3.Connection, key: str, value: int) -> None:
    db.execute("INSERT OR REPLACE INTO lexical_meta(key, value) VALUES (?, ?)", (key, value))


def add_postings(db: sqlite3.Connection, term_counts: list[tuple[str, int, int]]) -> dict[int, int]:
    """Write `term_counts` (as Fts5Tokenizer.term_counts gives them) as one new block per term,
    merging the blocks of terms that now have too many. Call inside a write transaction.

    Returns:
        tokens per row id (the rows' lengths, for BM25).
    """
    if not term_counts:
        return {}
    block = meta(db, "next_block")
    set_meta(db, "next_block", block + 1)
    terms = [t for t, _, _ in term_counts]
    rows = np.fromiter((r for _, r, _ in term_counts), dtype=np.int64, count=len(term_counts))
    # uint16 counts: a chunk fits the embedder's window (a few hundred tokens), far below 65535
    counts = np.fromiter((min(c, 65535) for _, _, c in term_counts), dtype=np.int64, count=len(term_counts))
    starts = [0] + [i for i in range(1, len(terms)) if terms[i] != terms[i - 1]] + [len(terms)]
    db.executemany("INSERT INTO postings(term, block, rids, counts) VALUES (?, ?, ?, ?)",
                   ((terms[a], block, rows[a:b].astype(ROW_ID).tobytes(), counts[a:b].astype(COUNT).tobytes())
                    for a, b in zip(starts, starts[1:])))
    _merge_crowded(db, [terms[a] for a in starts[:-1]])
    ids, inverse = np.unique(rows, return_inverse=True)
    return dict(zip(ids.tolist(), np.bincount(inverse, weights=counts).astype(int).tolist()))


def _merge_crowded(db: sqlite3.Connection, terms: list[str]) -> None:
    """For each of `terms` with more than MAX_BLOCKS blocks, merge its newest blocks into one:
    the newest two, then each older block no larger than those taken so far. Blocks so stay
    few and of falling sizes, and a posting is rewritten about log(writes) times, not once per
    merge (which made ingesting 1M chunks quadratic)."""
    crowded = db.execute("SELECT term FROM postings WHERE term IN (SELECT value FROM json_each(?)) "
                         "GROUP BY term HAVING count(*) > ?", (json.dumps(terms), MAX_BLOCKS)).fetchall()
    for (term,) in crowded:
        sizes = db.execute("SELECT block, length(rids) FROM postings WHERE term = ? ORDER BY block DESC",
                           (term,)).fetchall()
        take, taken = 2, sizes[0][1] + sizes[1][1]
        while take < len(sizes) and sizes[take][1] <= taken:
            taken += sizes[take][1]
            take += 1
        oldest = sizes[take - 1][0]
        blocks = db.execute("SELECT rids, counts FROM postings WHERE term = ? AND block >= ?",
                            (term, oldest)).fetchall()
        db.execute("DELETE FROM postings WHERE term = ? AND block >= ?", (term, oldest))
        db.execute("INSERT INTO postings(term, block, rids, counts) VALUES (?, ?, ?, ?)",
                   (term, oldest, b"".join(b[0] for b in blocks), b"".join(b[1] for b in blocks)))


def read_postings(db: sqlite3.Connection, terms: Iterable[str]) -> dict[str, TermPostings]:
    """The postings of each of `terms` that has any."""
    found = {}
    for term in terms:
        blocks = db.execute("SELECT rids, counts FROM postings WHERE term = ?", (term,)).fetchall()
        if blocks:
            found[term] = TermPostings(np.frombuffer(b"".join(b[0] for b in blocks), dtype=ROW_ID),
                                       np.frombuffer(b"".join(b[1] for b in blocks), dtype=COUNT))
    return found
