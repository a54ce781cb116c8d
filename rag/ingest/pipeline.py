"""Incremental ingest of one root (a folder or a single document) into an index of many.

path -> pages -> chunks -> vectors -> store, with a manifest of file hashes so unchanged
files cost nothing, changed files are replaced, and a bad file is reported and skipped.
Each document's id is its root's label plus its path in the root (rag.documents): ingesting
a root adds and updates its documents and removes only its documents that are gone; other
roots are untouched unless `replace` makes this root the only one.

Writes for each group of files go: intent record ("pending") -> chunks upserted (vector
store, then lexical index) -> stale chunks deleted (both) -> manifest entry ("complete")
(rag/ingest/writes.py). A run killed at any point leaves pending records that the next run
finishes or removes: no duplicates, no orphans, and the lexical index holds what the vector
store holds. The root is recorded as ingesting before the first write and becomes a root in
the index's metadata only once every write has committed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.documents import (
    INGESTING_KEY,
    LAYOUT,
    LAYOUT_KEY,
    ROOTS_KEY,
    document_id,
    find_root,
    ingesting_of,
    roots_of,
    roots_value,
)
from rag.embedding import Embedder
from rag.embedding.agreement import LOCAL
from rag.errors import LoadError, NothingToIngestError
from rag.ingest.chunking import Chunker
from rag.ingest.loaders import LoadOptions, discover, extensions_text, load_bytes, read_bytes, signature
from rag.ingest.migrate import migrate, needs_migration
from rag.ingest.report import IngestReport
from rag.ingest.writes import Vectors, Work, mark_written, remove_sources, write_group
from rag.retrieval.lexical import LexicalIndex, sync_with_store
from rag.store import Store, check_embedding_model, origin_record
from rag.types import ManifestEntry

log = logging.getLogger(__name__)
OUTSIDE = "a symlink out of the ingested folder: not read (this ingest is confined to the folder)"
GROUP_CHUNKS = 512  # chunks embedded and written per group: bounds memory and lost work
__all__ = ["ingest_folder", "plan_removals", "remove_sources", "mark_written", "resolve_root"]


def resolve_root(meta: dict[str, Any], root: Path, label: str | None, replace: bool
                 ) -> tuple[str, bool, dict[str, str], dict[str, str]]:
    """(label, is new, recorded roots, roots ingesting) of an ingest of `root`: the label a
    re-run of an interrupted ingest had, else as rag.documents.find_root gives it."""
    roots = roots_of(meta)
    ingesting = {} if replace else ingesting_of(meta)
    found, _ = find_root({**ingesting, **roots}, root, label)
    return found, found not in roots, roots, ingesting


def plan_removals(manifest: dict[str, ManifestEntry], label: str, present: set[str],
                  replace: bool) -> list[str]:
    """Documents an ingest of root `label` holding `present` removes: its own that are gone,
    and with `replace` every other root's too."""
    prefix = label + "/"
    return sorted(s for s in manifest if (s.startswith(prefix) and s not in present)
                  or (replace and not s.startswith(prefix)))


def _plan(root: Path, label: str, store: Store, chunker: Chunker, report: IngestReport,
          confine: bool, replace: bool, pdf_extractor: str, progress: bool = False) -> tuple[list[Work], list[str]]:
    """Read every file of the root, keep the new or changed ones chunked (a file its loader now
    reads another way, such as a PDF by another extractor, counts as changed); list the
    documents this run removes (plan_removals)."""
    files, report.files_ignored = discover(root, confine)
    report.files_seen = len(files)
    manifest = store.manifest()
    if not files:
        held = sum(s.startswith(label + "/") for s in manifest)
        raise NothingToIngestError(f"no documents of a known format ({extensions_text()}) under {str(root)!r} "
                                   f"({report.files_ignored} other file(s) ignored); nothing was changed"
                                   + (f": to remove its root's {held} documents, `rag forget {label}`" if held else ""))
    work: list[Work] = []
    for found in files:
        source = document_id(label, found.source)
        if found.outside:
            report.files_failed.append({"path": source, "error": OUTSIDE})
            log.warning("skipped %s: %s", source, OUTSIDE)
            continue
        try:
            data = read_bytes(found.path)
            file_hash = hashlib.sha256(data).hexdigest()
            old = manifest.get(source)
            extractor = signature(found.source, pdf_extractor)
            if old and old.status == "complete" and old.file_hash == file_hash \
                    and old.chunker == chunker.signature and old.extractor == extractor:
                report.files_unchanged += 1
                continue
            chunks = chunker.split_pages(load_bytes(data, source, options=LoadOptions(pdf_extractor, progress=progress)))
        except LoadError as exc:
            # A previously good file that now fails keeps its old chunks: nothing stored is lost.
            report.files_failed.append({"path": source, "error": str(exc)})
            log.warning("skipped %s: %s", source, exc)
            continue
        is_new = old is None or (old.status == "pending" and not old.file_hash)
        work.append(Work(source, file_hash, chunks, old.chunk_ids if old else (), is_new, extractor))
    if not work and report.files_unchanged == 0:
        raise NothingToIngestError(f"nothing ingestible under {str(root)!r}: all "
                                   f"{len(report.files_failed)} file(s) failed: " + "; ".join(
                                       f"{f['path']}: {f['error']}" for f in report.files_failed))
    present = {document_id(label, f.source) for f in files if not f.outside}
    return work, plan_removals(manifest, label, present, replace)


def ingest_folder(root: str | Path, *, embedder: Embedder, store: Store, chunker: Chunker,
                  lexical: LexicalIndex | None = None, progress: bool = True,
                  on_progress: Callable[[int, int], None] | None = None, confine: bool = False,
                  replace: bool = False, label: str | None = None, pdf_extractor: str = "pdfium") -> IngestReport:
    """Bring the index's root `root` in step with the folder (or document) `root`.

    Args:
        root: the document folder, or one document; its documents are recorded as
            `label/path in root`.
        embedder: turns chunk texts into vectors (must match the index's model).
        store: the index.
        chunker: splits pages into chunks.
        lexical: the BM25 index kept in step with the store (None: none kept).
        progress: show a progress bar while embedding.
        on_progress: called with (chunks done, chunks to do) as groups are embedded and written.
        confine: read no file through a symlink out of `root` (each is reported as failed).
        replace: make `root` the index's only root, removing every other root's documents.
        label: the root's label (default: the one recorded for this path, else a new one
            from the folder's name); a recorded label with another path moves that root.
        pdf_extractor: the PDF engine (rag.ingest.pdf.EXTRACTORS).

    Returns:
        An IngestReport.

    Raises:
        InputError: `root` is neither a folder nor a document; `label` is not a valid label.
        NothingToIngestError: no supported file, or every one failed; nothing is changed.
        IndexMismatchError: the index was built with another embedding model.
        IngestLockedError: another ingest holds the index.
    """
    started = time.perf_counter()
    report = IngestReport()
    root = Path(root)
    with store.write_lock():
        # 1. Refuse a foreign index before touching it; bring an old one to roots.
        metadata = store.metadata()
        origin, agreed = getattr(embedder, "origin", LOCAL), getattr(embedder, "local_agreement", None)
        check_embedding_model(metadata, embedder.name, embedder.dimension, str(root), origin, agreed)
        if lexical is not None:  # repair what a killed run or an older version left behind
            sync_with_store(lexical, store, progress)
        if needs_migration(metadata):
            migrate(store, lexical)
            metadata = store.metadata()
        report.root, report.new_root, roots, ingesting = resolve_root(metadata, root, label, replace)
        # 2. Read and chunk what changed; find what disappeared.
        work, removed = _plan(root, report.root, store, chunker, report, confine, replace, pdf_extractor, progress)
        ingesting[report.root] = str(root.resolve())
        store.set_metadata({"embedding_model": embedder.name,
                            "embedding_dimension": embedder.dimension,
                            **origin_record(metadata, origin, agreed),
                            "embedding_max_tokens": embedder.max_tokens,
                            "chunker": chunker.signature, LAYOUT_KEY: LAYOUT,
                            INGESTING_KEY: roots_value(ingesting)})
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
            groups = _groups(work)
            vectors = Vectors(embedder, store, report, ahead=bool(getattr(embedder, "remote", False)))
            try:
                for i, group in enumerate(groups):
                    write_group(group, vectors, store, chunker, advance, report, lexical,
                                groups[i + 1] if i + 1 < len(groups) else None)
            finally:
                vectors.close()
        # 4. Remove what is gone; only then record the root (a failed or killed run leaves the
        #    roots as they were, and `ingesting` says which one it did not finish).
        report.chunks_deleted += remove_sources(store, removed, lexical)
        report.files_removed = len(removed)
        roots = {} if replace else roots  # the write lock held: nobody else changed them
        roots[report.root] = str(root.resolve())
        ingesting.pop(report.root, None)
        store.set_metadata({ROOTS_KEY: roots_value(roots), INGESTING_KEY: roots_value(ingesting)})
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _groups(work: list[Work]) -> list[list[Work]]:
    """Documents in groups of about GROUP_CHUNKS chunks (a document is never split)."""
    groups: list[list[Work]] = [[]]
    for w in work:
        if sum(len(g.chunks) for g in groups[-1]) >= GROUP_CHUNKS:
            groups.append([])
        groups[-1].append(w)
    return [g for g in groups if g]
