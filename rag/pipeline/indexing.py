"""The index verbs of a Pipeline: ingest a root, plan one, forget a root or a document, info.

An index holds any number of roots (rag.documents); each verb works on one and leaves the
others alone, unless `replace` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rag.errors import IndexNotFoundError, InputError
from rag.ingest.report import IngestReport
from rag.pipeline.components import Components
from rag.pipeline.info import IndexInfo, IngestPlan, index_info
from rag.retrieval.lexical.base import Checkpointing
from rag.types import ManifestEntry


class Indexing(Components):
    """ingest, plan_ingest, forget and info over the configured index."""

    def ingest(self, folder: str | Path, progress: bool = True,
               on_progress: Callable[[int, int], None] | None = None, confine: bool = False,
               replace: bool = False, label: str | None = None) -> IngestReport:
        """Add `folder` (or one document) to the index as a root, or bring that root up to
        date (incremental): its new and changed documents are written, its documents gone
        from the folder removed, every other root left as it is. Returns an IngestReport.

        A folder unchanged since the last clean ingest of a local index is answered from the
        index's stamp without opening the store (rag/ingest/shortcut.py).

        Args:
            progress: a progress bar on stderr.
            on_progress: called with (chunks done, chunks to do) as the ingest advances.
            confine: follow no symlink out of `folder` (a file reached through one is reported
                as failed and not read): what `rag serve` ingests.
            replace: make `folder` the index's only root: every other root's documents go.
            label: the root's label (default: the one this folder already has, else one made
                from its name); giving an existing root's label to another path moves that root.
        """
        from rag.ingest.shortcut import Shortcut

        shortcut = None
        if not self.config.index.chroma_url:
            from rag.ingest.pdf import extractor_signature

            settings: dict[str, object] = {name: asdict(getattr(self.config, name))
                                           for name in ("index", "chunking", "embedding")}
            settings["pdf"] = extractor_signature(self.config.pdf.extractor)  # an upgrade re-reads PDFs
            shortcut = Shortcut(Path(self.config.index.path), Path(folder), settings, [Path(self.lexical_path())])
            unchanged = shortcut.check(self._embedder_name(), confine, replace, label)
            if unchanged is not None:
                return unchanged
        report = self._ingest(folder, progress, on_progress, confine, replace, label)
        if shortcut is not None:
            lexical = self.lexical_index()
            if isinstance(lexical, Checkpointing):
                lexical.checkpoint()  # so the stamp records the lexical file as it will stay
            shortcut.record(report, self.embedder().name)
        return report

    def _embedder_name(self) -> str:
        """The embedding model an ingest would use, as far as it is known without opening the
        index: the given one, the configured one, else the default (an index built with
        another model then takes the full path, which checks it)."""
        from rag.config import DEFAULT_EMBEDDING_MODEL
        from rag.embedding import model_name

        if self._embedder is not None:
            return str(self._embedder.name)
        return model_name(self.config.embedding.model or DEFAULT_EMBEDDING_MODEL)

    def _ingest(self, folder: str | Path, progress: bool, on_progress: Callable[[int, int], None] | None,
                confine: bool = False, replace: bool = False, label: str | None = None) -> IngestReport:
        from rag.ingest.chunking import Chunker
        from rag.ingest.pipeline import ingest_folder

        store = self.store(create=True)
        embedder = self.embedder(store)
        chunking = self.config.chunking
        chunker = Chunker(embedder.count_tokens, embedder.max_tokens,
                          chunking.chunk_size_tokens, chunking.chunk_overlap_tokens)
        return ingest_folder(folder, embedder=embedder, store=store, chunker=chunker,
                             lexical=self.lexical_index(), progress=progress, on_progress=on_progress,
                             confine=confine, replace=replace, label=label, pdf_extractor=self.config.pdf.extractor)

    def plan_ingest(self, folder: str | Path, replace: bool = False, confine: bool = False,
                    label: str | None = None) -> IngestPlan:
        """What `ingest(folder, replace=...)` would do, without reading a document or writing:
        the root's label, whether it is new, how many documents the folder holds, and the
        documents the ingest would remove (its own that are gone; with `replace`, every
        other root's). For the page to show before it ingests."""
        from rag.documents import LAYOUT_KEY, document_id, roots_of, roots_value
        from rag.ingest.loaders import discover
        from rag.ingest.pipeline import plan_removals, resolve_root

        found, _ = discover(Path(folder), confine)
        try:
            store = self.store()
        except IndexNotFoundError:  # a first ingest: nothing to remove
            store = None
        manifest: dict[str, ManifestEntry] = {}
        meta: dict[str, Any] = {}
        if store is not None:
            manifest, meta = store.manifest(), store.metadata()
            old = roots_of(meta, manifest)
            if meta.get(LAYOUT_KEY) is None and old:  # not migrated yet: as the ingest will see it
                manifest = {document_id(next(iter(old)), s): e for s, e in manifest.items()}
                meta = {**meta, "roots": roots_value(old), LAYOUT_KEY: 2}
        root, new, roots, _ = resolve_root(meta, Path(folder), label, replace)
        present = {document_id(root, f.source) for f in found if not f.outside}
        removes = plan_removals(manifest, root, present, replace)
        return IngestPlan(root=root, new_root=new, path=str(Path(folder).resolve()), documents=len(present),
                          removes=removes, removes_roots=sorted(r for r in roots if replace and r != root))

    def forget(self, target: str) -> int:
        """Remove one root (by its label: all its documents, and the root) or one document (by
        its id, `label/path`, as `rag info` lists it, or by its path in the root when only one
        root holds that path); returns chunks deleted.

        Raises:
            InputError: the index holds no such root or document.
        """
        from rag.documents import INGESTING_KEY, ROOTS_KEY, ingesting_of, relative_path, roots_of, roots_value
        from rag.ingest.migrate import migrate
        from rag.ingest.pipeline import remove_sources

        store = self.store()
        with store.write_lock():
            migrate(store, self.lexical_index())
            meta, manifest = store.metadata(), store.manifest()
            roots = roots_of(meta)
            ingesting = ingesting_of(meta)
            target = target.rstrip("/")
            if target in roots or target in ingesting:
                sources = sorted(s for s in manifest if s.startswith(target + "/"))
                deleted = remove_sources(store, sources, self.lexical_index())
                roots.pop(target, None)
                ingesting.pop(target, None)
                store.set_metadata({ROOTS_KEY: roots_value(roots), INGESTING_KEY: roots_value(ingesting)})
                return deleted
            if target not in manifest and not store.ids_for_source(target):
                inside = [s for s in manifest if relative_path(s) == target]  # a path in one root
                if len(inside) != 1:
                    known = ", ".join(sorted(roots)) or "none"
                    raise InputError(f"{target!r} is neither a root nor a document of the index (its roots: "
                                     f"{known}; documents are named root/path, as `rag info` lists them"
                                     + (f"; in several roots: {', '.join(sorted(inside))}" if inside else "") + ")")
                target = inside[0]
            return remove_sources(store, [target], self.lexical_index())

    def info(self) -> IndexInfo:
        """What the index holds: model, chunker, its roots (label, path, document and chunk
        counts; `interrupted` for one whose ingest did not finish), counts, and each document
        with its chunk count."""
        where = self.config.index.chroma_url or str(Path(self.config.index.path).resolve())
        return index_info(self.store(), where, self.config.index.collection)
