"""LangChain interop held to LangChain's own standard tests (langchain-tests): the retriever
(`Pipeline.as_retriever`, k per call, sync and async) and the embeddings (`LocalEmbeddings`);
and our index opened with `langchain_chroma.Chroma` finds the same top chunk as `rag ask
--retrieval dense` (Chroma's search is the dense route; the default hybrid also fuses BM25)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from rag.errors import InputError
from rag.langchain import LocalEmbeddings

pytestmark = pytest.mark.integration
DEMO_QUESTIONS = ("Who invented packet switching?", "What did the Huguenots believe?",
                  "What does the immune system protect against?")


class TestRetrieverStandard(RetrieversIntegrationTests):
    pipeline: Any = None

    @pytest.fixture(autouse=True)
    def _pipeline(self, demo_index: Path, minilm) -> None:
        from rag.pipeline import Pipeline

        type(self).pipeline = Pipeline(index=demo_index, embedder=minilm)

    @property
    def retriever_constructor(self) -> Any:
        return self.pipeline.as_retriever  # what a LangChain user calls: as_retriever(k=3)

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"k": 3}

    @property
    def retriever_query_example(self) -> str:
        return DEMO_QUESTIONS[0]


class TestEmbeddingsStandard(EmbeddingsIntegrationTests):
    params: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _model(self, minilm) -> None:
        type(self).params = {"embedder": minilm}  # the session's model, not one load per test

    @property
    def embeddings_class(self) -> type[LocalEmbeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self.params


class TestEmbeddingsUnitStandard(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[LocalEmbeddings]:
        return LocalEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"backend": "onnx"}


def test_the_embeddings_are_ingests_vectors_and_k_per_call_is_checked(demo_index: Path, minilm) -> None:
    import numpy as np

    from rag.pipeline import Pipeline

    pipeline = Pipeline(index=demo_index, embedder=minilm)
    embeddings = pipeline.as_embeddings()
    store = pipeline.store()
    chunk_id = next(iter(store.manifest().values())).chunk_ids[0]
    chunk = store.chunks_by_id([chunk_id])[0]
    stored = store.vectors_by_id([chunk_id])[chunk_id]
    assert np.allclose(embeddings.embed_documents([chunk.text])[0], stored, atol=1e-5)
    assert embeddings.embed_documents([]) == []
    with pytest.raises(InputError, match="k must be an integer >= 1"):
        pipeline.as_retriever().invoke(DEMO_QUESTIONS[0], k=0)


def test_langchain_chroma_opens_our_index_and_finds_the_same_top_chunk(demo_index: Path, minilm) -> None:
    from langchain_chroma import Chroma

    from rag.pipeline import Pipeline

    dense = Pipeline(index=demo_index, embedder=minilm, **{"retrieval.mode": "dense"})
    theirs = Chroma(collection_name="documents", embedding_function=LocalEmbeddings(embedder=minilm),
                    persist_directory=str(demo_index))
    for question in DEMO_QUESTIONS:
        top = theirs.similarity_search(question, k=1)[0]
        ours = dense.ask(question).sources[0]
        assert top.id == ours.chunk_id, question
        assert top.metadata["source"] == ours.source and "content_hash" in top.metadata
