"""LangChain interop: the retriever as a `BaseRetriever`, the chain as a `Runnable`, the
embedder as an `Embeddings`. Each passes LangChain's own standard tests (langchain-tests).

    retriever = pipeline.as_retriever()             # .invoke(q) -> list[Document]
    retriever.invoke(q, k=1, filter={"source": "docs/*.md", "pages": "3-7"})
    embeddings = LocalEmbeddings()                  # or pipeline.as_embeddings(): ingest's vectors
    chain = pipeline.as_runnable()                  # .invoke(q) -> Answer
    text = pipeline.as_runnable(text=True)          # .stream(q) -> str pieces, .invoke(q) -> str
    lcel = RunnableLambda(lambda d: d["q"]) | chain  # composes like any LCEL runnable
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.chain import RagChain
from rag.embedding import Embedder
from rag.errors import InputError
from rag.retrieval import Retriever
from rag.retrieval.filters import parse_filter
from rag.types import Answer


class RagRetriever(BaseRetriever):
    """Our retriever behind LangChain's interface; each Document carries source, page,
    chunk_id, section and score in its metadata. `k` and `filter` (a ChunkFilter or dict) hold
    for every search; `.invoke(query, k=..., filter=...)` replaces them for one call."""

    retriever: Any
    k: int = 4
    filter: Any = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                filter: Any = None, k: int | None = None) -> list[Document]:  # noqa: A002
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InputError(f"k must be an integer >= 1; got {k!r}")
        chosen = parse_filter(filter if filter is not None else self.filter)
        found = self.retriever.retrieve(query, k or self.k, chosen)
        return [Document(page_content=h.chunk.text, id=h.chunk.id,
                         metadata={"source": h.chunk.source, "page": h.chunk.page,
                                   "chunk_id": h.chunk.id, "section": h.chunk.section,
                                   "score": h.score}) for h in found.hits]


def as_retriever(retriever: Retriever, k: int, filter: Any = None) -> RagRetriever:  # noqa: A002
    return RagRetriever(retriever=retriever, k=k, filter=parse_filter(filter))


class LocalEmbeddings(Embeddings):
    """Our embedder as a LangChain `Embeddings`: the vectors `rag ingest` stores (normalized,
    the same model and backend), for a user's own vector store or to open our index with
    `langchain_chroma.Chroma`.

    Args:
        model: an embedding model name or folder (default: the packaged all-MiniLM-L6-v2).
        backend: "onnx" (ONNX Runtime, the default) or "torch".
        batch_size: texts per forward pass.
        embedder: an Embedder to wrap instead (Pipeline.as_embeddings passes the index's).
    """

    def __init__(self, model: str | None = None, backend: str = "onnx", batch_size: int = 32,
                 embedder: Embedder | None = None) -> None:
        if embedder is None:
            from rag.config import DEFAULT_EMBEDDING_MODEL
            from rag.embedding import SentenceTransformerEmbedder

            if backend not in ("onnx", "torch"):
                raise InputError(f"backend must be 'onnx' or 'torch'; got {backend!r}")
            if backend == "onnx":
                from rag.embedding.onnx import OnnxEmbedder

                embedder = OnnxEmbedder(model or DEFAULT_EMBEDDING_MODEL, batch_size)
            else:
                embedder = SentenceTransformerEmbedder(model or DEFAULT_EMBEDDING_MODEL, batch_size)
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in batches."""
        if not texts:
            return []
        return [[float(x) for x in row] for row in self.embedder.embed_documents(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        """The vector a question is searched with."""
        return [float(x) for x in self.embedder.embed_query(text)]


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
