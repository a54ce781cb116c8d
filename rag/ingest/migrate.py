"""Migrate an index written before roots (layout 1) to roots (layout 2), once, in place.

A layout-1 index mirrored one folder (`source_root`) and named each document by its path
relative to it. Migration makes that folder the index's first root: every source becomes the
document id `label/path` (rag.documents) in the chunks' metadata, the lexical index and the
manifest. Chunk ids, texts and vectors are kept as they are: nothing is re-embedded.

Crash-safe and idempotent: the label is recorded before anything is rewritten and is chosen
so that no old source starts with `label/`; so an old manifest entry (a key without that
prefix) is one not yet migrated, and each is rewritten chunks first, then lexical index,
then its new entry, and only then its old entry removed. A run killed anywhere is finished by
the next write (`rag ingest`, `rag forget`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from rag.documents import LAYOUT, LAYOUT_KEY, ROOTS_KEY, document_id, legacy_root, roots_of, roots_value
from rag.retrieval.lexical import LexicalIndex
from rag.store import Store
from rag.types import ManifestEntry

log = logging.getLogger(__name__)
GROUP = 2000  # chunks rewritten per step


def needs_migration(meta: dict[str, Any]) -> bool:
    """Whether the index (its collection metadata) is still in layout 1."""
    return meta.get(LAYOUT_KEY) is None and bool(meta.get("embedding_model"))


def migrate(store: Store, lexical: LexicalIndex | None) -> int:
    """Bring a layout-1 index to layout 2 under the caller's write lock; returns the number
    of documents migrated (0 for an index already in layout 2 or a new one)."""
    meta = store.metadata()
    if not needs_migration(meta):
        return 0
    manifest = store.manifest()
    roots = roots_of(meta) if meta.get(ROOTS_KEY) else {}
    if not roots:  # first attempt: pick the label, clear of every old source's first folder
        label, path = legacy_root(meta, manifest)
        roots = {label: path}
        store.set_metadata({ROOTS_KEY: roots_value(roots)})
    label = next(iter(roots))
    old = sorted(s for s in manifest if not s.startswith(label + "/"))
    group: list[ManifestEntry] = []
    for source in old:
        group.append(manifest[source])
        if sum(len(e.chunk_ids) for e in group) >= GROUP:
            _rewrite(store, lexical, label, group)
            group = []
    if group:
        _rewrite(store, lexical, label, group)
    store.set_metadata({LAYOUT_KEY: LAYOUT})
    if old:
        log.info("migrated the index to roots: %d documents now under root %r", len(old), label)
    return len(old)


def _rewrite(store: Store, lexical: LexicalIndex | None, label: str, entries: list[ManifestEntry]) -> None:
    """Rename the documents of `entries` to `label/source`: chunks, lexical index, manifest."""
    ids: list[str] = []
    new_source: dict[str, str] = {}
    for entry in entries:
        found = dict.fromkeys([*entry.chunk_ids, *store.ids_for_source(entry.source)])
        ids += found
        new_source.update((cid, document_id(label, entry.source)) for cid in found)
    chunks = [replace(c, source=new_source[c.id]) for c in store.chunks_by_id(ids)]
    if lexical is not None:
        lexical.upsert(chunks)  # first: a kill before the store is rewritten redoes both
    store.relabel(chunks)
    store.put_manifest([replace(e, source=document_id(label, e.source)) for e in entries])
    store.remove_manifest([e.source for e in entries])
