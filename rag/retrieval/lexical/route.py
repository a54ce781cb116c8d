"""The lexical route: the question's words against the BM25 index."""

from __future__ import annotations

from rag.retrieval.base import Query
from rag.retrieval.lexical.base import LexicalIndex
from rag.types import Hit, ResolvedFilter


class LexicalRoute:
    """Chunks ranked by BM25 over the question's content words (score: BM25)."""

    def __init__(self, index: LexicalIndex) -> None:
        self.index = index

    def search(self, query: Query, k: int, where: ResolvedFilter | None) -> list[Hit]:
        return self.index.search(query.text, k, where)
