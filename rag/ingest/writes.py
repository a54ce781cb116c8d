"""The writes of an ingest: a group of files made durable, or sources removed.

Each group goes: intent records ("pending") -> chunks upserted (vector store, then lexical
index) -> stale chunks deleted (both) -> manifest entries ("complete") -> a new write
generation. rag/ingest/pipeline.py explains why that order survives a kill at any point.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
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


def _vectors(group: list[Work], embedder: Embedder, store: Store, advance: Callable[[int], None],
             report: IngestReport, known: dict[str, np.ndarray]) -> np.ndarray:
    """Vectors for every chunk of the group: reuse stored ones, embed each new text once.

    `known` maps content hash -> vector for the whole run and is extended here.
    """
    old_ids = [cid for w in group for cid in w.old_ids]
    if old_ids:
        known.update(store.vectors_by_hash(old_ids))
    chunks = [c for w in group for c in w.chunks]
    todo = list(dict.fromkeys(c.content_hash for c in chunks if c.content_hash not in known))
    if todo:
        text_of = {c.content_hash: c.text for c in chunks}
        fresh = embedder.embed_documents([text_of[h] for h in todo])
        known.update(zip(todo, fresh))
        report.chunks_embedded += len(todo)
    advance(len(chunks))
    if not chunks:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.stack([known[c.content_hash] for c in chunks])


def write_group(group: list[Work], embedder: Embedder, store: Store, chunker: Chunker,
                advance: Callable[[int], None], report: IngestReport, known: dict[str, np.ndarray],
                lexical: LexicalIndex | None) -> None:
    """Intent records, vectors, upsert, stale deletion, then the complete manifest entries."""
    store.put_manifest([ManifestEntry(w.source, "" if w.is_new else "changed",
                                      tuple(dict.fromkeys([*w.old_ids, *(c.id for c in w.chunks)])),
                                      chunker.signature, _now(), "pending", w.extractor) for w in group])
    vectors = _vectors(group, embedder, store, advance, report, known)
    chunks = [c for w in group for c in w.chunks]
    store.upsert(chunks, vectors)
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
