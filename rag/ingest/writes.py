"""The writes of an ingest: a group of files made durable, or sources removed.

Each group goes: intent records ("pending") -> chunks upserted (vector store, then lexical
index) -> stale chunks deleted (both) -> manifest entries ("complete") -> a new write
generation. rag/ingest/pipeline.py explains why that order survives a kill at any point.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from rag.embedding import Embedder
from rag.ingest.chunking import Chunker
from rag.ingest.report import IngestReport
from rag.retrieval.lexical import LexicalIndex
from rag.store import Store
from rag.types import Chunk, ManifestEntry


@dataclass(frozen=True)
class Work:
    """One new or changed document: its id, file hash, fresh chunks and the chunks it had."""

    source: str
    file_hash: str
    chunks: list[Chunk]
    old_ids: tuple[str, ...]
    is_new: bool
    extractor: str = ""  # how a PDF's text was read (ManifestEntry.extractor)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Vectors:
    """The vectors of an ingest's groups: stored ones reused, each new text embedded once.

    With `ahead` (a remote embedder), the next group's new texts are sent while the current
    group is written (`prefetch`), so the server computes while the store writes.

    Args:
        embedder: the index's embedder.
        store: the index (stored vectors of a changed document's old chunks are reused).
        report: counts the chunks embedded.
        ahead: embed the next group on a worker thread.
    """

    def __init__(self, embedder: Embedder, store: Store, report: IngestReport, ahead: bool = False) -> None:
        self.embedder, self.store, self.report = embedder, store, report
        self.known: dict[str, np.ndarray] = {}  # content hash -> vector, for the whole run
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="embed-ahead") if ahead else None
        self._pending: tuple[int, list[str], Future[np.ndarray]] | None = None

    def prefetch(self, group: list[Work]) -> None:
        """Start embedding `group`'s new texts (with `ahead`; a no-op otherwise)."""
        if self._pool is not None:
            todo, texts = self._todo(group)
            self._pending = (id(group), todo, self._pool.submit(self.embedder.embed_documents, texts))

    def of(self, group: list[Work], advance: Callable[[int], None]) -> np.ndarray:
        """One row per chunk of the group, in order."""
        if self._pending is not None and self._pending[0] == id(group):
            _, todo, future = self._pending
            self._pending = None
            fresh = future.result()
        else:
            todo, texts = self._todo(group)
            fresh = self.embedder.embed_documents(texts) if todo else np.zeros((0, self.embedder.dimension))
        self.known.update(zip(todo, fresh))
        self.report.chunks_embedded += len(todo)
        chunks = [c for w in group for c in w.chunks]
        advance(len(chunks))
        if not chunks:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([self.known[c.content_hash] for c in chunks])

    def close(self) -> None:
        """Wait for a request in flight (its result is dropped) and stop the worker."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _todo(self, group: list[Work]) -> tuple[list[str], list[str]]:
        old_ids = [cid for w in group for cid in w.old_ids]
        if old_ids:
            self.known.update(self.store.vectors_by_hash(old_ids))
        chunks = [c for w in group for c in w.chunks]
        text_of = {c.content_hash: c.text for c in chunks}
        todo = [h for h in text_of if h not in self.known]
        return todo, [text_of[h] for h in todo]


def write_group(group: list[Work], vectors: Vectors, store: Store, chunker: Chunker,
                advance: Callable[[int], None], report: IngestReport, lexical: LexicalIndex | None,
                following: list[Work] | None = None) -> None:
    """Intent records, vectors, upsert, stale deletion, then the complete manifest entries.
    The `following` group's vectors are requested before this group's writes (Vectors.prefetch)."""
    store.put_manifest([ManifestEntry(w.source, "" if w.is_new else "changed",
                                      tuple(dict.fromkeys([*w.old_ids, *(c.id for c in w.chunks)])),
                                      chunker.signature, _now(), "pending", w.extractor) for w in group])
    rows = vectors.of(group, advance)
    if following:
        vectors.prefetch(following)
    chunks = [c for w in group for c in w.chunks]
    store.upsert(chunks, rows)
    if lexical is not None:
        lexical.upsert(chunks)
    report.chunks_upserted += len(chunks)
    for w in group:
        keep = {c.id for c in w.chunks}
        stale = sorted(set(w.old_ids).union(store.ids_for_source(w.source)) - keep)
        store.delete(stale)
        if lexical is not None:
            lexical.delete(stale)
        report.chunks_deleted += len(stale)
    store.put_manifest([ManifestEntry(w.source, w.file_hash, tuple(c.id for c in w.chunks),
                                      chunker.signature, _now(), extractor=w.extractor) for w in group])
    mark_written(store)
    report.files_added += sum(w.is_new for w in group)
    report.files_updated += sum(not w.is_new for w in group)


def remove_sources(store: Store, sources: list[str], lexical: LexicalIndex | None = None) -> int:
    """Delete every chunk of `sources` (from the store and the lexical index) and their
    manifest entries; return chunks deleted."""
    manifest = store.manifest()
    deleted = 0
    for source in sources:
        ids = set(store.ids_for_source(source))
        if source in manifest:
            ids.update(manifest[source].chunk_ids)
        store.delete(sorted(ids))
        if lexical is not None:
            lexical.delete(sorted(ids))
        deleted += len(ids)
    store.remove_manifest(sources)
    if sources:
        mark_written(store)
    return deleted


def mark_written(store: Store) -> None:
    """Record that chunks changed (a new random write generation in the collection metadata):
    readers in other processes see it and bring their lexical index up to date."""
    store.set_metadata({"write_generation": uuid.uuid4().hex})
