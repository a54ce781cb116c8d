"""The lexical (BM25) index kept beside the vector store: SQLite FTS5, Python's own sqlite3.

Why FTS5 (see the README, Retrieval): Chroma 1.5's local and single-node modes have no sparse
search; FTS5 ranks by BM25, is transactional and incremental by id (ingest adds, replaces and
deletes the same chunk ids as in Chroma, in the same group writes), needs no extra package and
builds 100k chunks in seconds. bm25s queries faster but can only be rebuilt whole.

Only this module imports sqlite3. `LexicalIndex` is the interface a retriever sees, so a native
sparse index (distributed Chroma) can be another implementation.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from rag.filters import ResolvedFilter
from rag.types import Chunk, Hit

log = logging.getLogger(__name__)

# Words too common to rank by; dropping them keeps FTS5 queries to milliseconds.
STOPWORDS = frozenset(["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "may", "me", "might", "more", "most", "my", "no", "not", "of", "on", "or", "our", "she", "should", "so", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would", "you", "your"])
SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks(rid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, source TEXT,
    page INTEGER, position INTEGER, content_hash TEXT, section TEXT);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, tokenize='porter unicode61 remove_diacritics 2');
"""
BATCH = 2000


class LexicalIndex(Protocol):
    """Keyword-ranked chunks, kept in step with the vector store by chunk id."""

    def upsert(self, chunks: Sequence[Chunk]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def ids(self) -> set[str]: ...
    def id_hashes(self) -> dict[str, str]: ...
    def count(self) -> int: ...
    def distinct(self, field: str) -> list[str]: ...
    def search(self, question: str, k: int, where: ResolvedFilter | None = None) -> list[Hit]: ...


def fts_query(text: str) -> str | None:
    """An FTS5 query matching any content word of `text`, each quoted so that user text
    (`C++`, `foo-bar`, `NEAR`, `"`) is never read as FTS5 syntax; None when no word is left."""
    words = [w for w in re.findall(r"\w+", text.lower())]
    content = [w for w in words if w not in STOPWORDS] or words
    unique = list(dict.fromkeys(content))
    return " OR ".join(f'"{w}"' for w in unique) if unique else None


class SqliteLexicalIndex:
    """FTS5 table of chunk texts plus a table of their metadata, in one SQLite file.

    Args:
        path: the database file (created with its folder when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60.0)
        self._lock = threading.Lock()  # one connection shared by threads (rag serve)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Insert or replace chunks by id, in one transaction."""
        with self._lock, self._db:
            self._delete(list(dict.fromkeys(c.id for c in chunks)))
            for c in chunks:
                cursor = self._db.execute(
                    "INSERT INTO chunks(id, source, page, position, content_hash, section) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (c.id, c.source, c.page, c.position, c.content_hash, c.section))
                self._db.execute("INSERT INTO fts(rowid, text) VALUES (?, ?)", (cursor.lastrowid, c.text))

    def delete(self, ids: Sequence[str]) -> None:
        """Remove chunks by id (unknown ids are ignored), in one transaction."""
        with self._lock, self._db:
            self._delete(list(ids))

    def _delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH):
            part = json.dumps(ids[start:start + BATCH])
            self._db.execute("DELETE FROM fts WHERE rowid IN (SELECT rid FROM chunks WHERE id IN "
                             "(SELECT value FROM json_each(?)))", (part,))
            self._db.execute("DELETE FROM chunks WHERE id IN (SELECT value FROM json_each(?))", (part,))

    def ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def id_hashes(self) -> dict[str, str]:
        """Every chunk id with its content hash."""
        with self._lock:
            return dict(self._db.execute("SELECT id, content_hash FROM chunks").fetchall())

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def distinct(self, field: str) -> list[str]:
        """The distinct values of `source` or `section` (what filters are resolved against)."""
        if field not in ("source", "section"):
            raise ValueError(f"field must be 'source' or 'section'; got {field!r}")
        with self._lock:
            return [row[0] for row in self._db.execute(f"SELECT DISTINCT {field} FROM chunks") if row[0] is not None]

    def search(self, question: str, k: int, where: ResolvedFilter | None = None) -> list[Hit]:
        """Top-k chunks by BM25 (score = -bm25, higher is better) among those `where` allows."""
        query = fts_query(question)
        if query is None:
            return []
        sql = ["SELECT c.id, fts.text, c.source, c.page, c.position, c.content_hash, c.section, "
               "bm25(fts) AS rank FROM fts JOIN chunks c ON c.rid = fts.rowid WHERE fts MATCH ?"]
        params: list[object] = [query]
        if where is not None:
            for column, values in (("source", where.sources), ("section", where.sections)):
                if values is not None:
                    sql.append(f"AND c.{column} IN (SELECT value FROM json_each(?))")
                    params.append(json.dumps(list(values)))
            if where.page_min is not None or where.page_max is not None:
                sql.append("AND c.page IS NOT NULL")
            if where.page_min is not None:
                sql.append("AND c.page >= ?")
                params.append(where.page_min)
            if where.page_max is not None:
                sql.append("AND c.page <= ?")
                params.append(where.page_max)
        sql.append("ORDER BY rank LIMIT ?")
        params.append(k)
        with self._lock:
            rows = self._db.execute(" ".join(sql), params).fetchall()
        return [Hit(Chunk(cid, text, source, page, position, content_hash, section or ""), -float(rank))
                for cid, text, source, page, position, content_hash, section, rank in rows]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file now rather than at close."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._db.close()


class ChunkSource(Protocol):
    """What the lexical index is repaired from: the vector store."""

    def ids(self) -> set[str]: ...
    def id_hashes(self) -> dict[str, str]: ...
    def chunks_by_id(self, ids: Sequence[str]) -> list[Chunk]: ...


def sync_lexical(lexical: LexicalIndex, store: ChunkSource, progress: bool = True,
                 compare_text: bool = True) -> tuple[int, int]:
    """Bring the lexical index in step with the store: chunks missing or with another content
    hash are copied from the store (a rebuild when the index is new), ids the store lacks are
    deleted. The caller holds the store's write lock.

    Args:
        compare_text: compare content hashes too (a chunk re-written under the same id); else
            equal id sets are taken as in step (0.3 s instead of 2 s at 100k chunks).

    Returns:
        (chunks copied, chunks deleted).
    """
    if not compare_text and store.ids() == lexical.ids():
        return 0, 0
    wanted, have = store.id_hashes(), lexical.id_hashes()
    stale = sorted(i for i in have if i not in wanted)
    todo = sorted(i for i, h in wanted.items() if have.get(i) != h)
    if stale:
        lexical.delete(stale)
    if todo:
        log.info("lexical index: copying %d chunks from the store", len(todo))
        with tqdm(total=len(todo), desc="lexical index", unit="chunk", disable=not progress,
                  leave=False) as bar:
            for part in _batches(todo, BATCH):
                lexical.upsert(store.chunks_by_id(part))
                bar.update(len(part))
    return len(todo), len(stale)


class WatchedStore(ChunkSource, Protocol):
    """The store as a following lexical index sees it."""

    def metadata(self) -> dict[str, Any]: ...
    def manifest(self) -> dict[str, Any]: ...


def sync_with_store(lexical: LexicalIndex, store: WatchedStore, progress: bool = True) -> tuple[int, int]:
    """`sync_lexical`, comparing content hashes only when a manifest entry is pending: only a
    write cut short can leave one id with two texts, since the manifest is completed after
    both stores are written. Otherwise equal id sets suffice (0.25 s instead of 2 s at 100k)."""
    pending = any(getattr(e, "status", "complete") != "complete" for e in store.manifest().values())
    return sync_lexical(lexical, store, progress, compare_text=pending)


class FollowingLexicalIndex:
    """A lexical index that follows its store across processes: before answering, it compares
    the store's write generation (set by every ingest write) with the one it last synced at, and
    syncs when they differ, so a reader never answers from a stale index, whoever wrote.

    It takes no lock, and need not: ingest writes Chroma before the lexical index (upserts and
    deletions alike), so whatever a sync copies or drops mid-ingest is what Chroma holds, and the
    writer's own later write of the same ids is an idempotent upsert or delete.
    """

    def __init__(self, inner: LexicalIndex, store: WatchedStore, progress: bool = True) -> None:
        self.inner = inner
        self.store = store
        self.progress = progress
        self._synced_at: object = _NEVER

    def refresh(self) -> None:
        """Sync with the store if it was written since the last sync."""
        generation = self.store.metadata().get("write_generation")
        if generation == self._synced_at:
            return
        sync_with_store(self.inner, self.store, self.progress)
        self._synced_at = generation

    def search(self, question: str, k: int, where: ResolvedFilter | None = None) -> list[Hit]:
        self.refresh()
        return self.inner.search(question, k, where)

    def distinct(self, field: str) -> list[str]:
        self.refresh()
        return self.inner.distinct(field)

    def __getattr__(self, name: str) -> Any:  # upsert, delete, ids, count: the inner index's
        return getattr(self.inner, name)


_NEVER = object()


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
