"""The Store protocol every vector store implements, and the embedding-model check on open.
A store takes filters resolved (rag.types.ResolvedFilter) and translates them itself."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rag.embedding.agreement import AGREEMENT_MIN, LOCAL
from rag.errors import IndexMismatchError
from rag.types import Chunk, Hit, ManifestEntry, ResolvedFilter


class Store(Protocol):
    """Where chunks, their vectors and the ingest manifest live."""

    def metadata(self) -> dict[str, Any]: ...
    def set_metadata(self, updates: dict[str, Any]) -> None: ...
    def count(self) -> int: ...
    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...
    def relabel(self, chunks: Sequence[Chunk]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def ids_for_source(self, source: str) -> list[str]: ...
    def vectors_by_hash(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def query(self, vector: np.ndarray, k: int, where: ResolvedFilter | None = None) -> list[Hit]: ...
    def ids(self) -> set[str]: ...
    def id_hashes(self) -> dict[str, str]: ...
    def chunks_by_id(self, ids: Sequence[str]) -> list[Chunk]: ...
    def vectors_by_id(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def manifest(self) -> dict[str, ManifestEntry]: ...
    def put_manifest(self, entries: Sequence[ManifestEntry]) -> None: ...
    def remove_manifest(self, sources: Sequence[str]) -> None: ...
    def write_lock(self) -> contextlib.AbstractContextManager[None]: ...


def check_embedding_model(meta: dict[str, Any], name: str, dimension: int, where: str,
                          origin: str = LOCAL, local_agreement: float | None = None) -> None:
    """Refuse an index built with another embedding model, or with vectors from elsewhere that
    were never shown to agree with these.

    Args:
        meta: the index's recorded settings.
        name, dimension: the embedder's model name and vector size.
        where: the index, for the message.
        origin: where the vectors come from: "local" (in process) or a server's URL.
        local_agreement: the embedder's measured agreement with the local model of the same
            name (rag.embedding.agreement), when it is a server's.

    Raises:
        IndexMismatchError: the recorded model name or dimension differs, or the vectors come
            from another origin and either side's agreement with the local model is missing or
            under AGREEMENT_MIN.
    """
    recorded, recorded_dim = meta.get("embedding_model"), meta.get("embedding_dimension")
    if recorded is None:
        return
    if recorded != name or recorded_dim != dimension:
        raise IndexMismatchError(
            f"index {where} was built with embedding model {recorded!r} ({recorded_dim} dims); "
            f"got {name!r} ({dimension} dims). Use the index's model or a new index path.")
    recorded_origin = str(meta.get("embedding_origin", LOCAL))
    if origin == recorded_origin:
        return
    agreed = recorded_agreements(meta)
    mine = 1.0 if origin == LOCAL else local_agreement if local_agreement is not None else agreed.get(origin)
    theirs = agreed.get(recorded_origin, 1.0 if recorded_origin == LOCAL else None)
    if mine is not None and theirs is not None and min(mine, theirs) >= AGREEMENT_MIN:
        return
    raise IndexMismatchError(
        f"index {where} holds {recorded!r} vectors from {_origin(recorded_origin)}; these come from "
        f"{_origin(origin)}, and {_agreement(mine, origin, theirs, recorded_origin)}: to this index they "
        "are different models. Embed where the index was built, or use a new index path.")


def recorded_agreements(meta: dict[str, Any]) -> dict[str, float]:
    """{origin: minimum probe cosine against the local model} as the ingests recorded them."""
    try:
        value = json.loads(str(meta.get("embedding_agreement") or "{}"))
        return {str(k): float(v) for k, v in value.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def origin_record(meta: dict[str, Any], origin: str, local_agreement: float | None) -> dict[str, Any]:
    """The metadata an ingest writes of its vectors' origin: the origin when the index is new,
    and the embedder's measured agreement with the local model beside the earlier ones."""
    record: dict[str, Any] = {}
    if meta.get("embedding_model") is None:
        record["embedding_origin"] = origin
    if local_agreement is not None and origin != LOCAL:
        record["embedding_agreement"] = json.dumps({**recorded_agreements(meta), origin: round(local_agreement, 6)})
    return record


def _origin(origin: str) -> str:
    return "this machine's model" if origin == LOCAL else f"the server {origin}"


def _agreement(mine: float | None, origin: str, theirs: float | None, recorded: str) -> str:
    for value, side in ((mine, origin), (theirs, recorded)):
        if value is None:
            return f"the vectors of {_origin(side)} were never compared with the local model's"
        if value < AGREEMENT_MIN:
            return (f"the vectors of {_origin(side)} differ from the local model's (minimum cosine "
                    f"{value:.4f} < {AGREEMENT_MIN} on the probe texts)")
    return "they do not agree"
