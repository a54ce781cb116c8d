"""What retrieval takes and returns: the question a route searches with, the Route protocol every
route implements, and the Retriever protocol the chain calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.types import Hit, ResolvedFilter

if TYPE_CHECKING:
    from rag.retrieval.filters import ChunkFilter


@dataclass(frozen=True)
class Query:
    """The question as the routes see it: its text, and its vector once embedded (None until
    then, and for a retriever whose routes and scores need none)."""

    text: str
    vector: np.ndarray | None = None


class Route(Protocol):
    """One way of finding chunks for a question (dense: the store's vectors; lexical: BM25).
    It returns at most `k` hits, best first, among the chunks `where` allows; its scores are its
    own (they are fused by rank, so they need not be comparable with another route's)."""

    def search(self, query: Query, k: int, where: ResolvedFilter | None) -> list[Hit]: ...


@dataclass(frozen=True)
class Retrieval:
    """Hits, best first, and the seconds spent embedding the question and searching."""

    hits: tuple[Hit, ...]
    embed_seconds: float
    search_seconds: float


class Retriever(Protocol):
    def retrieve(self, question: str, k: int, chunk_filter: ChunkFilter | None = None) -> Retrieval: ...
