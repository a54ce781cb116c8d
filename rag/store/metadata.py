"""How chunks and filters are written in Chroma's terms: a chunk's metadata, the chunk read
back from a record, and a resolved filter as a `where` clause. Plain dicts; the client itself is
used only in rag.store.chroma."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rag.types import Chunk, ResolvedFilter


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """A chunk's fields as Chroma metadata (no page key for a document without pages)."""
    meta: dict[str, Any] = {"source": chunk.source, "position": chunk.position,
                            "content_hash": chunk.content_hash, "section": chunk.section}
    if chunk.page is not None:
        meta["page"] = chunk.page
    if chunk.title:
        meta["title"] = chunk.title
    if chunk.ocr:
        meta["ocr"] = True
    return meta


def chunk_from(chunk_id: str, text: str | None, meta: Mapping[str, Any] | None) -> Chunk:
    """The Chunk of a stored record."""
    meta = meta or {}
    return Chunk(id=chunk_id, text=text or "", source=str(meta.get("source", "")),
                 page=meta.get("page"), position=int(meta.get("position", 0)),
                 content_hash=str(meta.get("content_hash", "")), section=str(meta.get("section", "")),
                 title=str(meta.get("title", "")), ocr=bool(meta.get("ocr", False)))


def where_clause(where: ResolvedFilter | None) -> dict[str, Any] | None:
    """The filter's conditions as a Chroma `where` clause; None when it sets none."""
    if where is None:
        return None
    clauses: list[dict[str, Any]] = []
    if where.sources is not None:
        clauses.append({"source": {"$in": list(where.sources)}})
    if where.sections is not None:
        clauses.append({"section": {"$in": list(where.sections)}})
    if where.page_min is not None:
        clauses.append({"page": {"$gte": where.page_min}})
    if where.page_max is not None:
        clauses.append({"page": {"$lte": where.page_max}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
