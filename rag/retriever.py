"""Retrievers: question -> scored chunks. Dense (embedder + store) today; a BM25 or fused
retriever is another implementation of the same Protocol."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from rag.embedder import Embedder
from rag.store import Store
from rag.types import Hit


@dataclass(frozen=True)
class Retrieval:
    """Hits, best first, and the seconds spent embedding the question and searching."""

    hits: tuple[Hit, ...]
    embed_seconds: float
    search_seconds: float


class Retriever(Protocol):
    def retrieve(self, question: str, k: int) -> Retrieval: ...


class DenseRetriever:
    """Embeds the question with the index's model and takes the top-k by cosine similarity."""

    def __init__(self, embedder: Embedder, store: Store) -> None:
        self.embedder = embedder
        self.store = store

    def retrieve(self, question: str, k: int) -> Retrieval:
        started = time.perf_counter()
        vector = self.embedder.embed_query(question)
        embedded = time.perf_counter()
        hits = self.store.query(vector, k)
        return Retrieval(tuple(hits), embedded - started, time.perf_counter() - embedded)
