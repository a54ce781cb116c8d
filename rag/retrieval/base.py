"""What every retriever returns, and the Protocol the chain calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rag.config_sections import RETRIEVAL_MODES  # noqa: F401 - one list for config and retrieval
from rag.filters import ChunkFilter
from rag.types import Hit


@dataclass(frozen=True)
class Retrieval:
    """Hits, best first, and the seconds spent embedding the question and searching."""

    hits: tuple[Hit, ...]
    embed_seconds: float
    search_seconds: float


class Retriever(Protocol):
    def retrieve(self, question: str, k: int, chunk_filter: ChunkFilter | None = None) -> Retrieval: ...


@dataclass(frozen=True)
class RetrievalSettings:
    """How the routes are combined (plain values; the wiring reads them from the configuration).

    Attributes:
        mode: "dense" (embeddings), "lexical" (BM25) or "hybrid" (both, fused).
        candidates: hits each route contributes to fusion and MMR (at least k are taken).
        rrf_k: reciprocal rank fusion's constant: score = sum of weight / (rrf_k + rank).
        dense_weight, lexical_weight: each route's weight in the fused score.
        mmr: MMR's lambda (1 = relevance only, 0 = diversity only); None = no MMR.
    """

    mode: str = "dense"
    candidates: int = 20
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    mmr: float | None = None
