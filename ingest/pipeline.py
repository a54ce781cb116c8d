"""Incremental ingest of a folder into a store.

path -> pages -> chunks -> vectors -> store, with a manifest of file hashes so unchanged
files cost nothing, changed files are replaced, removed files disappear, and a bad file is
reported and skipped. Writes for each group of files go: intent record ("pending") ->
chunks upserted (vector store, then lexical index) -> stale chunks deleted (both) -> manifest
entry ("complete"). A run killed at any point leaves pending records that the next run finishes
or removes: no duplicates, no orphans, and the lexical index holds what the vector store holds.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ingest.chunking import Chunker
from ingest.loaders import discover, load_bytes, read_bytes
from ingest.report import IngestReport
from rag.embedder import Embedder
from rag.errors import InputError, LoadError, NothingToIngestError
from rag.lexical import LexicalIndex, sync_with_store
from rag.store import Store, check_embedding_model
from rag.types import Chunk, ManifestEntry

log = logging.getLogger(__name__)
OUTSIDE = "a symlink out of the ingested folder: not read (this ingest is confined to the folder)"
GROUP_CHUNKS = 512  # chunks embedded and written per group: bounds memory and lost work


class ReplaceNeededError(InputError):
    """An ingest of another folder would remove the files of the folder the index mirrors."""


@dataclass(frozen=True)
class _Work:
    source: str
    file_hash: str
    chunks: list[Chunk]
    old_ids: tuple[str, ...]
    is_new: bool


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _plan(root: Path, store: Store, chunker: Chunker, report: IngestReport, confine: bool = False,
          replace: bool = False, mirrored: str | None = None) -> tuple[list[_Work], list[str]]:
    """Read every file, keep the new or changed ones chunked; list sources that disappeared.
    `mirrored`: the folder the index mirrors (its `source_root`), if any.

    Raises:
        ReplaceNeededError: the index mirrors another folder whose files this run would remove.
    """
    files, report.files_ignored = discover(root, confine)
    report.files_seen = len(files)
    if not files:
        raise NothingToIngestError(f"no .txt, .md, .pdf or .html files under {str(root)!r} "
                                   f"({report.files_ignored} other file(s) ignored)")
    manifest = store.manifest()
    work: list[_Work] = []
    for found in files:
        if found.outside:
            report.files_failed.append({"path": found.source, "error": OUTSIDE})
            log.warning("skipped %s: %s", found.source, OUTSIDE)
            continue
        try:
            data = read_bytes(found.path)
            file_hash = hashlib.sha256(data).hexdigest()
            old = manifest.get(found.source)
            if old and old.status == "complete" and old.file_hash == file_hash \
                    and old.chunker == chunker.signature:
                report.files_unchanged += 1
                continue
            chunks = chunker.split_pages(load_bytes(data, found.source))
        except LoadError as exc:
            # A previously good file that now fails keeps its old chunks: nothing stored is lost.
            report.files_failed.append({"path": found.source, "error": str(exc)})
            log.warning("skipped %s: %s", found.source, exc)
            continue
        is_new = old is None or (old.status == "pending" and not old.file_hash)
        work.append(_Work(found.source, file_hash, chunks, old.chunk_ids if old else (), is_new))
    present = {f.source for f in files if not f.outside}
    removed = sorted(s for s in manifest if s not in present)
    if not work and report.files_unchanged == 0:
        raise NothingToIngestError(f"nothing ingestible under {str(root)!r}: all "
                                   f"{len(report.files_failed)} file(s) failed: " + "; ".join(
                                       f"{f['path']}: {f['error']}" for f in report.files_failed))
    if removed and not replace and mirrored and mirrored != str(root.resolve()):
        raise ReplaceNeededError(
            f"the index mirrors {mirrored!r} ({len(manifest)} files); ingesting {str(root)!r} would remove "
            f"{len(removed)} of them ({', '.join(removed[:3])}{', ...' if len(removed) > 3 else ''}). Nothing was "
            f"changed: ingest {mirrored!r} to update the index, or pass --replace to make {str(root)!r} its folder")
    return work, removed


def _vectors(group: list[_Work], embedder: Embedder, store: Store, advance: Callable[[int], None],
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


def _write_group(group: list[_Work], embedder: Embedder, store: Store, chunker: Chunker,
                 advance: Callable[[int], None], report: IngestReport, known: dict[str, np.ndarray],
                 lexical: LexicalIndex | None) -> None:
    """Intent records, vectors, upsert, stale deletion, then the complete manifest entries."""
    store.put_manifest([ManifestEntry(w.source, "" if w.is_new else "changed",
                                      tuple(dict.fromkeys([*w.old_ids, *(c.id for c in w.chunks)])),
                                      chunker.signature, _now(), "pending") for w in group])
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
                                      chunker.signature, _now()) for w in group])
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


def ingest_folder(root: str | Path, *, embedder: Embedder, store: Store, chunker: Chunker,
                  lexical: LexicalIndex | None = None, progress: bool = True,
                  on_progress: Callable[[int, int], None] | None = None, confine: bool = False,
                  replace: bool = False) -> IngestReport:
    """Bring the index in step with the folder `root`.

    Args:
        root: the document folder; sources are recorded relative to it.
        embedder: turns chunk texts into vectors (must match the index's model).
        store: the index.
        chunker: splits pages into chunks.
        lexical: the BM25 index kept in step with the store (None: none kept).
        progress: show a progress bar while embedding.
        on_progress: called with (chunks done, chunks to do) as groups are embedded and written.
        confine: read no file through a symlink out of `root` (each is reported as failed).
        replace: let `root` replace the folder the index mirrors, removing that folder's files.

    Returns:
        An IngestReport.

    Raises:
        InputError: `root` is not a folder.
        NothingToIngestError: no supported file, or every one failed; nothing is changed.
        IndexMismatchError: the index was built with another embedding model.
        IngestLockedError: another ingest holds the index.
        ReplaceNeededError: the index mirrors another folder and `replace` is off; nothing is changed.
    """
    started = time.perf_counter()
    report = IngestReport()
    root = Path(root)
    with store.write_lock():
        # 1. Refuse a foreign index before touching it.
        metadata = store.metadata()
        check_embedding_model(metadata, embedder.name, embedder.dimension, str(root))
        if lexical is not None:  # repair what a killed run or an older version left behind
            sync_with_store(lexical, store, progress)
        # 2. Read and chunk what changed; find what disappeared.
        work, removed = _plan(root, store, chunker, report, confine, replace, metadata.get("source_root"))
        store.set_metadata({"embedding_model": embedder.name,
                            "embedding_dimension": embedder.dimension,
                            "embedding_max_tokens": embedder.max_tokens,
                            "chunker": chunker.signature})
        # 3. Embed and write in groups, each group made durable before the next.
        total = sum(len(w.chunks) for w in work)
        with tqdm(total=total, desc="embedding chunks", unit="chunk", disable=not progress or not total,
                  leave=False) as bar:
            done = [0]  # a disabled bar counts nothing

            def advance(n: int) -> None:
                bar.update(n)
                done[0] += n
                if on_progress is not None:
                    on_progress(done[0], total)

            advance(0)
            group: list[_Work] = []
            known: dict[str, np.ndarray] = {}
            for w in work:
                group.append(w)
                if sum(len(g.chunks) for g in group) >= GROUP_CHUNKS:
                    _write_group(group, embedder, store, chunker, advance, report, known, lexical)
                    group = []
            if group:
                _write_group(group, embedder, store, chunker, advance, report, known, lexical)
        # 4. Remove what is gone from the folder; only then name the folder the index mirrors
        #    (a failed or killed run leaves the previous name, not one it never finished).
        report.chunks_deleted += remove_sources(store, removed, lexical)
        report.files_removed = len(removed)
        store.set_metadata({"source_root": str(root.resolve())})
    report.seconds = round(time.perf_counter() - started, 3)
    return report
