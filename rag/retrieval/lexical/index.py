"""The lexical (BM25) index kept beside the vector store, in one SQLite file (Python's sqlite3).

Why SQLite (README, Retrieval): Chroma 1.5's local and single-node modes have no sparse search;
SQLite is transactional and incremental by id (ingest writes the same chunk ids as in Chroma, in
the same group writes) and needs no extra package. Texts sit in an FTS5 table, whose tokenizer
(Porter stemming, diacritics folded) defines the terms; BM25 is scored in NumPy (bm25.py) from
postings kept beside it (postings.py), with FTS5's formula: FTS5's own `bm25()` is too slow past
100k chunks. It implements `LexicalIndex` (base.py), so a native sparse index can be another.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rag.errors import InputError
from rag.retrieval.lexical import postings
from rag.retrieval.lexical.base import query_words
from rag.retrieval.lexical.bm25 import DocStats, top_rows
from rag.types import Chunk, Hit, ResolvedFilter

log = logging.getLogger(__name__)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS chunks(rid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, source TEXT,
    page INTEGER, position INTEGER, content_hash TEXT, section TEXT);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, tokenize='{postings.TOKENIZE}');
{postings.SCHEMA}"""
BATCH = 2000
REBUILD_DEAD_RATIO = 1.0  # rebuild the postings once deleted rows' outnumber the live rows'


class SqliteLexicalIndex:
    """Chunk texts (FTS5), their metadata and their term postings, in one SQLite file.

    Args:
        path: the database file (created with its folder when missing). A file written by an
            earlier version, without postings, gets them on opening (a progress bar shows).
        progress: show that progress bar.
    """

    def __init__(self, path: str | Path, progress: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60.0)
        self._lock = threading.Lock()  # one connection shared by threads (rag serve)
        self._tokenizer = postings.Fts5Tokenizer()
        self._stats: tuple[object, DocStats] | None = None
        self._writes = 0  # this connection's commits (PRAGMA data_version counts only others')
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
            for column, kind in (("tokens", "INTEGER"), ("title", "TEXT"), ("ocr", "INTEGER")):
                if column not in columns:  # an older file (its rows keep no title and no OCR mark)
                    self._db.execute(f"ALTER TABLE chunks ADD COLUMN {column} {kind}")
        self._add_missing_postings(progress)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once so that reading the counters is safe."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
            finally:
                self._writes += 1

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks by id, in one transaction."""
        with self._write():
            self._delete(list(dict.fromkeys(c.id for c in chunks)))
            first = postings.meta(self._db, "next_rid", self._max_rid() + 1)
            if first + len(chunks) >= 2**32:
                raise OverflowError(f"lexical index {self.path}: row ids past 2^32; rebuild it (delete the file)")
            postings.set_meta(self._db, "next_rid", first + len(chunks))
            self._db.executemany(
                "INSERT INTO chunks(rid, id, source, page, position, content_hash, section, tokens, title, ocr) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                ((first + i, c.id, c.source, c.page, c.position, c.content_hash, c.section, c.title, int(c.ocr))
                 for i, c in enumerate(chunks)))
            self._db.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)",
                                 ((first + i, c.text) for i, c in enumerate(chunks)))
            self._index([(first + i, c.text) for i, c in enumerate(chunks)])
        self._rebuild_if_mostly_dead()  # replaced chunks leave dead postings too

    def _max_rid(self) -> int:
        return int(self._db.execute("SELECT coalesce(max(rid), 0) FROM chunks").fetchone()[0])

    def _index(self, texts: list[tuple[int, str]]) -> None:
        """Postings and lengths of rows already in `chunks` (inside a write transaction)."""
        lengths = postings.add_postings(self._db, self._tokenizer.term_counts(texts))
        self._db.executemany("UPDATE chunks SET tokens = ? WHERE rid = ?",
                             ((lengths.get(rid, 0), rid) for rid, _ in texts))

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id (unknown ids are ignored), in one transaction."""
        with self._write():
            self._delete(list(ids))
        self._rebuild_if_mostly_dead()

    def _delete(self, ids: list[str]) -> None:
        dead = 0
        for start in range(0, len(ids), BATCH):
            part = json.dumps(ids[start:start + BATCH])
            self._db.execute("DELETE FROM fts WHERE rowid IN (SELECT rid FROM chunks WHERE id IN "
                             "(SELECT value FROM json_each(?)))", (part,))
            dead += self._db.execute("DELETE FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                                     (part,)).rowcount
        if dead:
            postings.set_meta(self._db, "dead_rows", postings.meta(self._db, "dead_rows") + dead)

    def _rebuild_if_mostly_dead(self) -> None:
        """Drop all postings and index every chunk again once deleted rows (whose postings stay
        until then) outnumber the live ones, so that queries do not read mostly dead postings."""
        with self._lock:
            dead, live = postings.meta(self._db, "dead_rows"), self._count()
        if dead <= max(BATCH, REBUILD_DEAD_RATIO * live):
            return
        log.info("lexical index %s: rebuilding the postings of %d chunks (%d deleted ones')", self.path, live, dead)
        with self._write():  # one transaction: readers keep the old postings until it commits
            if postings.meta(self._db, "dead_rows") < dead:
                return  # another thread or process rebuilt them meanwhile
            self._db.execute("DELETE FROM postings")
            postings.set_meta(self._db, "dead_rows", 0)
            after = 0
            while texts := self._texts_after(after, only_missing=False):
                self._index(texts)
                after = texts[-1][0]

    def _add_missing_postings(self, progress: bool) -> None:
        """Index the chunks without postings (tokens NULL), BATCH per transaction, so that an
        interrupted run resumes where it stopped."""
        with self._lock:
            todo = int(self._db.execute("SELECT count(*) FROM chunks WHERE tokens IS NULL").fetchone()[0])
        if not todo:
            return
        log.info("lexical index %s: indexing the postings of %d chunks", self.path, todo)
        after = 0
        with tqdm(total=todo, desc="lexical postings", unit="chunk", disable=not progress, leave=False) as bar:
            while True:
                with self._write():
                    if postings.meta(self._db, "next_rid", 0) == 0:
                        postings.set_meta(self._db, "next_rid", self._max_rid() + 1)
                    texts = self._texts_after(after, only_missing=True)
                    self._index(texts)
                if not texts:
                    return
                after = texts[-1][0]
                bar.update(len(texts))

    def _texts_after(self, after: int, only_missing: bool) -> list[tuple[int, str]]:
        """The next BATCH (row id, text) past row `after`, by row id (a range read, not a scan
        from the start); only rows without postings when `only_missing`."""
        missing = "AND c.tokens IS NULL " if only_missing else ""
        return self._db.execute(f"SELECT c.rid, fts.text FROM chunks c JOIN fts ON fts.rowid = c.rid "
                                f"WHERE c.rid > ? {missing}ORDER BY c.rid LIMIT ?", (after, BATCH)).fetchall()

    def ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def id_hashes(self) -> dict[str, str]:
        """Every chunk id with its content hash."""
        with self._lock:
            return dict(self._db.execute("SELECT id, content_hash FROM chunks").fetchall())

    def count(self) -> int:
        with self._lock:
            return self._count()

    def _count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def distinct(self, field: str) -> list[str]:
        """The distinct values of `source` or `section` (what filters are resolved against)."""
        if field not in ("source", "section"):
            raise InputError(f"field must be 'source' or 'section'; got {field!r}")
        with self._lock:
            return [row[0] for row in self._db.execute(f"SELECT DISTINCT {field} FROM chunks") if row[0] is not None]

    def search(self, question: str, k: int, where: ResolvedFilter | None = None) -> list[Hit]:
        """Top-k chunks by BM25 (higher is better) among those `where` allows."""
        words = query_words(question)
        if not words:
            return []
        terms = self._tokenizer.word_terms(words)
        with self._lock:
            stats = self._doc_stats()
            found = postings.read_postings(self._db, dict.fromkeys(terms))
            allowed = self._allowed(where, len(stats.live)) if where is not None else None
        best = top_rows(stats, [found[t] for t in terms if t in found], k, allowed)
        return self._hits(best)

    def _doc_stats(self) -> DocStats:
        """Live rows and lengths, read again only after a write (by any connection)."""
        version = (self._db.execute("PRAGMA data_version").fetchone()[0], self._writes)
        if self._stats is None or self._stats[0] != version:
            rows = np.array(self._db.execute("SELECT rid, tokens FROM chunks WHERE tokens IS NOT NULL").fetchall(),
                            dtype=np.int64).reshape(-1, 2)
            size = max(postings.meta(self._db, "next_rid", 0), int(rows[:, 0].max(initial=0)) + 1)
            self._stats = (version, DocStats.from_rows(rows[:, 0], rows[:, 1], size))
        return self._stats[1]

    def _allowed(self, where: ResolvedFilter, size: int) -> np.ndarray:
        """bool per row id: whether `where` lets the row through."""
        sql, params = ["SELECT rid FROM chunks WHERE 1"], list[object]()
        for column, values in (("source", where.sources), ("section", where.sections)):
            if values is not None:
                sql.append(f"AND {column} IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(list(values)))
        if where.page_min is not None or where.page_max is not None:
            sql.append("AND page IS NOT NULL")
        for bound, value in (("page >= ?", where.page_min), ("page <= ?", where.page_max)):
            if value is not None:
                sql.append(f"AND {bound}")
                params.append(value)
        rows = np.array([r for (r,) in self._db.execute(" ".join(sql), params)], dtype=np.int64)
        allowed = np.zeros(size, dtype=bool)
        allowed[rows[rows < size]] = True
        return allowed

    def _hits(self, best: list[tuple[int, float]]) -> list[Hit]:
        if not best:
            return []
        with self._lock:
            rows = self._db.execute("SELECT c.rid, c.id, fts.text, c.source, c.page, c.position, c.content_hash, "
                                    "c.section, c.title, c.ocr FROM chunks c JOIN fts ON fts.rowid = c.rid WHERE c.rid IN "
                                    "(SELECT value FROM json_each(?))", (json.dumps([rid for rid, _ in best]),)).fetchall()
        chunks = {r[0]: Chunk(r[1], r[2], r[3], r[4], r[5], r[6], r[7] or "", r[8] or "", bool(r[9])) for r in rows}
        return [Hit(chunks[rid], score) for rid, score in best if rid in chunks]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file now rather than at close."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()
