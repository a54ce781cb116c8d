"""The dense route: the question's vector against the store's, by cosine similarity."""

from __future__ import annotations

from rag.errors import ConfigError
from rag.retrieval.base import Query
from rag.store.base import Store
from rag.types import Hit, ResolvedFilter


class DenseRoute:
    """Nearest chunks to the question's vector in `store` (score: cosine similarity)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def search(self, query: Query, k: int, where: ResolvedFilter | None) -> list[Hit]:
        if query.vector is None:
            raise ConfigError("the dense route needs the question's vector: register it with needs_vector=True")
        return self.store.query(query.vector, k, where)
