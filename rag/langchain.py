"""LangChain interop: the retriever as a `BaseRetriever`, the chain as a `Runnable`.

    retriever = pipeline.as_retriever()             # .invoke(q) -> list[Document]
    retriever.invoke(q, filter={"source": "docs/*.md", "pages": "3-7"})
    chain = pipeline.as_runnable()                  # .invoke(q) -> Answer
    text = pipeline.as_runnable(text=True)          # .stream(q) -> str pieces, .invoke(q) -> str
    lcel = RunnableLambda(lambda d: d["q"]) | chain  # composes like any LCEL runnable
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.chain import RagChain
from rag.retrieval import Retriever
from rag.retrieval.filters import parse_filter
from rag.types import Answer


class RagRetriever(BaseRetriever):
    """Our retriever behind LangChain's interface; each Document carries source, page,
    chunk_id, section and score in its metadata. `filter` (a ChunkFilter or dict) restricts
    every search; `.invoke(query, filter=...)` replaces it for one call."""

    retriever: Any
    k: int = 4
    filter: Any = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                filter: Any = None) -> list[Document]:  # noqa: A002
        chosen = parse_filter(filter if filter is not None else self.filter)
        found = self.retriever.retrieve(query, self.k, chosen)
        return [Document(page_content=h.chunk.text, id=h.chunk.id,
                         metadata={"source": h.chunk.source, "page": h.chunk.page,
                                   "chunk_id": h.chunk.id, "section": h.chunk.section,
                                   "score": h.score}) for h in found.hits]


def as_retriever(retriever: Retriever, k: int, filter: Any = None) -> RagRetriever:  # noqa: A002
    return RagRetriever(retriever=retriever, k=k, filter=parse_filter(filter))


def _question(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("question", value.get("input", "")))
    return str(value)


def as_runnable(chain: RagChain) -> Runnable[Any, Answer]:
    """The chain as a Runnable: input a question (or {"question": ...}), output an Answer."""
    return RunnableLambda(lambda value: chain.ask(_question(value)), name="rag_ask")


def as_text_runnable(chain: RagChain) -> Runnable[Any, str]:
    """The chain as a text Runnable: `.stream()` yields pieces as generated, `.invoke()` the text."""

    def pieces(inputs: Iterator[Any]) -> Iterator[str]:
        for value in inputs:
            yield from chain.stream(_question(value))

    return RunnableGenerator(pieces, name="rag_stream")
