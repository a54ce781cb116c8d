"""The Chroma store: chunks, vectors and the ingest manifest in a local folder or a Chroma server.

Only this module imports chromadb. The ingest manifest lives in the store itself (a second
collection), so it follows the index wherever the index lives.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexNotFoundError
from rag.store.lease import ServerLease, folder_lock, writer_mark
from rag.store.metadata import chunk_from, chunk_metadata, where_clause
from rag.types import Chunk, Hit, ManifestEntry, ResolvedFilter

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


class ChromaStore:
    """Chroma collection of chunks (cosine space) plus a manifest collection beside it.

    Args:
        path: the index folder (PersistentClient); ignored when `chroma_url` is given.
        collection: collection name.
        chroma_url: http(s)://host:port of a Chroma server.
        create: create the index if missing; otherwise a missing index raises.

    Raises:
        IndexNotFoundError: `create` is False and there is no such index.
    """

    def __init__(self, path: str | Path = "rag_index", collection: str = "documents",
                 chroma_url: str | None = None, create: bool = True) -> None:
        import chromadb
        from chromadb.config import Settings

        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        settings = Settings(anonymized_telemetry=False)
        self.path = Path(path)
        self.where = chroma_url or str(self.path)
        if chroma_url:
            url = urlparse(chroma_url)
            self._client = chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                               ssl=url.scheme == "https", settings=settings)
        else:
            if not create and not self.path.is_dir():
                raise IndexNotFoundError(f"no index at {str(self.path)!r}: run `rag ingest DIR "
                                         f"--index {self.path}` first")
            self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
        self._batch = min(self._client.get_max_batch_size(), 2000)
        self._lease: ServerLease | None = None  # held while a server index's writer writes
        existing = {c.name if hasattr(c, "name") else str(c) for c in self._client.list_collections()}
        if not create and collection not in existing:
            raise IndexNotFoundError(f"index {self.where!r} has no collection {collection!r}: "
                                     "run `rag ingest` first")
        self._col = self._client.get_or_create_collection(
            collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None,
            metadata={"format_version": FORMAT_VERSION})
        self._manifest = self._client.get_or_create_collection(
            f"{collection}-manifest", embedding_function=None)

    # -- collection metadata -------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The index's recorded settings (embedding model, dimension, chunker, write generation),
        read afresh: another process (or a server's other client) may have written since."""
        return dict(self._client.get_collection(self._col.name).metadata or {})

    def set_metadata(self, updates: dict[str, Any]) -> None:
        """Merge `updates` into the collection metadata."""
        self._still_leased()
        self._col.modify(metadata={**self.metadata(), **updates})

    # -- chunks --------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._col.count())

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Insert or replace chunks with their vectors, in batches under Chroma's limit."""
        self._still_leased()
        if len(chunks) != len(vectors):
            raise ValueError(f"got {len(chunks)} chunks but {len(vectors)} vectors")
        for start in range(0, len(chunks), self._batch):
            part = chunks[start:start + self._batch]
            self._col.upsert(ids=[c.id for c in part], documents=[c.text for c in part],
                             embeddings=np.asarray(vectors[start:start + self._batch], dtype=np.float32),
                             metadatas=[chunk_metadata(c) for c in part])

    def relabel(self, chunks: Sequence[Chunk]) -> None:
        """Rewrite the metadata (source, page, section...) of stored chunks; their texts and
        vectors stay as they are (rag/ingest/migrate.py)."""
        self._still_leased()
        for start in range(0, len(chunks), self._batch):
            part = chunks[start:start + self._batch]
            self._col.update(ids=[c.id for c in part], metadatas=[chunk_metadata(c) for c in part])

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:  # called per file with its stale chunks, mostly none: no lease round trip then
            return
        self._still_leased()
        for start in range(0, len(ids), self._batch):
            self._col.delete(ids=list(ids[start:start + self._batch]))

    def ids_for_source(self, source: str) -> list[str]:
        """Every chunk id stored for one source (finds orphans the manifest missed)."""
        return list(self._col.get(where={"source": source}, include=[])["ids"])

    def vectors_by_hash(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of `ids`, keyed by content hash, so unchanged text is not re-embedded."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), self._batch):
            got = self._col.get(ids=list(ids[start:start + self._batch]),
                                include=["embeddings", "metadatas"])
            for meta, vector in zip(got["metadatas"] or [], got["embeddings"] if got["embeddings"] is not None else []):
                if meta and meta.get("content_hash"):
                    found[str(meta["content_hash"])] = np.asarray(vector, dtype=np.float32)
        return found

    def query(self, vector: np.ndarray, k: int, where: ResolvedFilter | None = None) -> list[Hit]:
        """Top-k chunks by cosine similarity (score = 1 - cosine distance), among those the
        filter allows (translated into a Chroma `where` clause)."""
        # No count() first: Chroma returns what there is when k exceeds it, and counting a
        # 1M-chunk collection costs more than the search itself (bench/retrieval.py).
        res = self._col.query(query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                              n_results=k, where=where_clause(where),
                              include=["documents", "metadatas", "distances"])
        docs, metas, dists = res["documents"] or [[]], res["metadatas"] or [[]], res["distances"] or [[]]
        return [Hit(chunk_from(cid, doc, meta), 1.0 - float(dist))
                for cid, doc, meta, dist in zip(res["ids"][0], docs[0], metas[0], dists[0])]

    def _pages(self, include: list[Any], size: int) -> Iterator[dict[str, Any]]:
        """The whole collection, `size` records per get, with the fields in `include`."""
        offset = 0
        while True:
            got = self._col.get(limit=size, offset=offset, include=include)
            if not got["ids"]:
                return
            yield dict(got)
            offset += len(got["ids"])

    def ids(self) -> set[str]:
        """Every chunk id (cheap: about 0.3 s at 100k chunks)."""
        return {cid for page in self._pages([], 50_000) for cid in page["ids"]}

    def id_hashes(self) -> dict[str, str]:
        """Every chunk id with its content hash (what the lexical index is checked against)."""
        return {cid: str((meta or {}).get("content_hash", ""))
                for page in self._pages(["metadatas"], self._batch)
                for cid, meta in zip(page["ids"], page["metadatas"] or [])}

    def chunks_by_id(self, ids: Sequence[str]) -> list[Chunk]:
        """The stored chunks of `ids` (unknown ids are skipped)."""
        chunks: list[Chunk] = []
        for start in range(0, len(ids), self._batch):
            got = self._col.get(ids=list(ids[start:start + self._batch]), include=["documents", "metadatas"])
            chunks += [chunk_from(c, d, m) for c, d, m in zip(got["ids"], got["documents"] or [],
                                                               got["metadatas"] or [])]
        return chunks

    def vectors_by_id(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of `ids` (for MMR and for scoring lexical hits by cosine)."""
        if not ids:
            return {}
        got = self._col.get(ids=list(ids), include=["embeddings"])
        vectors = got["embeddings"] if got["embeddings"] is not None else []
        return {cid: np.asarray(v, dtype=np.float32) for cid, v in zip(got["ids"], vectors)}

    def all_chunks(self) -> Iterator[Chunk]:
        """Every stored chunk (for lexical indexes and inspection), in pages of one batch."""
        for page in self._pages(["documents", "metadatas"], self._batch):
            yield from (chunk_from(cid, doc, meta)
                        for cid, doc, meta in zip(page["ids"], page["documents"] or [], page["metadatas"] or []))

    # -- manifest ------------------------------------------------------------------------
    def manifest(self) -> dict[str, ManifestEntry]:
        got = self._manifest.get(include=["documents", "metadatas"])
        entries = {}
        for source, doc, meta in zip(got["ids"], got["documents"] or [], got["metadatas"] or []):
            meta = meta or {}
            entries[source] = ManifestEntry(
                source=source, file_hash=str(meta.get("file_hash", "")),
                chunk_ids=tuple(json.loads(doc or "[]")), chunker=str(meta.get("chunker", "")),
                ingested_at=str(meta.get("ingested_at", "")), status=str(meta.get("status", "")),
                extractor=str(meta.get("extractor", "")))
        return entries

    def put_manifest(self, entries: Sequence[ManifestEntry]) -> None:
        self._still_leased()
        for start in range(0, len(entries), self._batch):
            part = entries[start:start + self._batch]
            self._manifest.upsert(
                ids=[e.source for e in part], embeddings=np.ones((len(part), 1), dtype=np.float32),
                documents=[json.dumps(list(e.chunk_ids)) for e in part],
                metadatas=[{"file_hash": e.file_hash, "chunker": e.chunker,
                            "ingested_at": e.ingested_at, "status": e.status,
                            "n_chunks": len(e.chunk_ids), "extractor": e.extractor} for e in part])

    def remove_manifest(self, sources: Sequence[str]) -> None:
        if sources:
            self._still_leased()
            self._manifest.delete(ids=list(sources))

    def _still_leased(self) -> None:
        """Raises LeaseLostError: a server index's writer lost its lease (rag.store.lease)."""
        if self._lease is not None:
            self._lease.check()

    @contextlib.contextmanager
    def write_lock(self) -> Iterator[None]:
        """Exclusive lock for writers: flock on a local index's folder, a lease record in the
        server for a server index (rag.store.lease). Readers are never blocked.

        Raises:
            IngestLockedError: another writer holds the lock.
        """
        if self.where != str(self.path):
            lease = self._client.get_or_create_collection(f"{self._col.name}-lease", embedding_function=None)
            with ServerLease(lease, self.where) as held:
                self._lease = held  # every write checks it is still ours (rag.store.lease)
                try:
                    yield
                finally:
                    self._lease = None
            return
        with folder_lock(writer_mark(self.path)):
            yield
