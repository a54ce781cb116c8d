"""What the index verbs report, as typed JSON objects: an index's contents (`rag info`, GET
/info) and an ingest's plan (POST /ingest/plan)."""

from __future__ import annotations

from typing import TypedDict

from rag.documents import LAYOUT_KEY, ingesting_of, legacy_root, root_label, roots_of
from rag.embedding.agreement import LOCAL
from rag.embedding.registry import embedding_backends
from rag.ingest.loaders import loaders
from rag.store.base import Store, recorded_agreements


class RootInfo(TypedDict):
    label: str
    path: str | None
    documents: int
    chunks: int
    interrupted: bool  # its ingest did not finish
    pdf_extractors: list[str]  # how its PDFs were read ("" for those of an index from before)


class DocumentInfo(TypedDict):
    source: str  # the document id, root/path
    root: str
    chunks: int
    ingested_at: str
    status: str  # "complete", or "pending" while (or since an interrupted run) written
    extractor: str  # how a PDF's text was read; "" for other documents


class IndexInfo(TypedDict):
    index: str
    collection: str
    embedding_model: str | None
    embedding_dimension: int | None
    embedding_origin: str  # "local" (in process) or the server's URL that embedded the index
    embedding_agreement: dict[str, float]  # {server URL: minimum probe cosine with the local model}
    embedding_backends: list[str]  # what embedding.backend accepts (rag.embedding.registry)
    chunker: str | None
    layout: int
    roots: list[RootInfo]
    files: int
    chunks: int
    sources: list[DocumentInfo]
    formats: dict[str, list[str]]  # each registered loader's extensions, by kind: what an ingest reads


class IngestPlan(TypedDict):
    root: str
    new_root: bool
    path: str
    documents: int
    removes: list[str]  # document ids the ingest would delete
    removes_roots: list[str]  # roots it would drop (with replace)


def index_info(store: Store, where: str, collection: str) -> IndexInfo:
    """The contents of `store` (found at `where`)."""
    meta = store.metadata()
    manifest = store.manifest()
    # Not migrated yet: every document is the one folder's, under the label it will get.
    old = legacy_root(meta, manifest)[0] if meta.get(LAYOUT_KEY) is None else None
    files = [DocumentInfo(source=e.source, root=old or root_label(e.source), chunks=len(e.chunk_ids),
                          ingested_at=e.ingested_at, status=e.status, extractor=e.extractor)
             for e in sorted(manifest.values(), key=lambda e: e.source)]
    roots: dict[str, RootInfo] = {}

    def row(label: str, path: str | None) -> RootInfo:
        return roots.setdefault(label, RootInfo(label=label, path=path, documents=0, chunks=0, interrupted=False,
                                                pdf_extractors=[]))

    for label, path in roots_of(meta, manifest).items():
        row(label, path)
    for label, path in ingesting_of(meta).items():
        row(label, path)["interrupted"] = True
    for f in files:
        counted = row(f["root"], None)
        counted["documents"] += 1
        counted["chunks"] += f["chunks"]
        if f["source"].lower().endswith(".pdf") and f["extractor"] not in counted["pdf_extractors"]:
            counted["pdf_extractors"] = sorted([*counted["pdf_extractors"], f["extractor"]])
    return IndexInfo(index=where, collection=collection, embedding_model=meta.get("embedding_model"),
                     embedding_dimension=meta.get("embedding_dimension"),
                     embedding_origin=str(meta.get("embedding_origin", LOCAL)),
                     embedding_agreement=recorded_agreements(meta),
                     embedding_backends=[b.name for b in embedding_backends()], chunker=meta.get("chunker"),
                     layout=meta.get(LAYOUT_KEY) or 1, roots=[roots[k] for k in sorted(roots)],
                     files=len(files), chunks=store.count(), sources=files,
                     formats={loader.kind: list(loader.extensions) for loader in loaders()})
