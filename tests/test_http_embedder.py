"""The HTTP embedding backend against a stub OpenAI-compatible server (tests/embedding_stub.py):
batching, the bound on requests in flight, retries, a refused key, a wrong dimension or model,
a server that is not there or goes away mid-ingest, and the index's record of where its
vectors came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, write_docs
from embedding_stub import EmbeddingStub

from rag.config import load_config
from rag.embedding.http import EmbeddingServerError, HttpEmbedder
from rag.embedding.registry import EmbeddingBackend, embedding_backends, register_backend, unregister_backend
from rag.errors import ConfigError, IndexMismatchError
from rag.fakes import HashEmbedder
from rag.pipeline import Pipeline

MODEL = "hash-embedder"  # resolves to no local model: no tokenizer, no agreement to measure
TEXTS = [f"document number {i} about topic {i % 7}" for i in range(70)]


def embedder(stub: EmbeddingStub, **options: object) -> HttpEmbedder:
    return HttpEmbedder(stub.endpoint, MODEL, **{"retries": 2, **options})  # type: ignore[arg-type]


def test_batches_keep_their_order_and_vectors_are_normalized_here() -> None:
    with EmbeddingStub(HashEmbedder(), scale=3.0) as stub:
        remote = embedder(stub, batch_size=32)
        vectors = remote.embed_documents(TEXTS)
    assert stub.script.inputs[0] == 1 and sorted(stub.script.inputs[1:]) == [6, 32, 32]  # probe, batches
    assert remote.name == MODEL and remote.dimension == 64
    np.testing.assert_allclose(vectors, HashEmbedder().embed_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_no_more_requests_in_flight_than_the_setting() -> None:
    with EmbeddingStub(HashEmbedder(), delay=0.15) as stub:
        remote = embedder(stub, batch_size=4, concurrency=3)
        remote.embed_documents(TEXTS[:40])  # 10 requests
    assert stub.script.most_in_flight == 3


def test_busy_and_failing_answers_are_retried_then_reported_with_the_url() -> None:
    with EmbeddingStub(HashEmbedder(), retry_after="0") as stub:
        remote = embedder(stub)
        stub.script.failures = [503, 429]
        assert remote.embed_documents(TEXTS[:3]).shape == (3, 64)
        assert stub.script.statuses[-3:] == [503, 429, 200]
        stub.script.failures = [500, 502, 504]
        with pytest.raises(EmbeddingServerError, match=rf"{stub.endpoint}/embeddings failed after 3 attempts: HTTP 504"):
            remote.embed_query("anything")


def test_a_refused_key_is_not_retried_and_the_right_key_is_sent() -> None:
    with EmbeddingStub(HashEmbedder(), key="s3cret") as stub:
        with pytest.raises(EmbeddingServerError, match=r"refused the key \(HTTP 401\)"):
            embedder(stub)
        assert stub.script.statuses == [401]
        assert embedder(stub, api_key="s3cret").dimension == 64


def test_a_server_that_changes_dimension_or_model_is_refused() -> None:
    with EmbeddingStub(HashEmbedder()) as stub:
        remote = embedder(stub)
        stub.script.dimension = 32
        with pytest.raises(EmbeddingServerError, match="sent 32-dim vectors; 'hash-embedder' gave 64"):
            remote.embed_documents(TEXTS[:2])
        stub.script.dimension, stub.script.model = None, "another-model"
        with pytest.raises(EmbeddingServerError, match="now serves 'another-model'"):
            remote.embed_documents(TEXTS[:2])


def test_a_server_that_is_not_there_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingServerError, match=rf"{url}/embeddings failed after 1 attempts: ConnectError"):
        HttpEmbedder(url, MODEL, retries=0)


def test_the_backend_comes_from_the_configuration_and_the_registry() -> None:
    assert [b.name for b in embedding_backends()][:3] == ["onnx", "torch", "http"]
    assert load_config(env={"RAG_EMBEDDING_ENDPOINT": "http://gpu:8000/v1"}).embedding.backend == "http"
    with pytest.raises(ConfigError, match="embedding.backend = \"http\" needs embedding.endpoint"):
        load_config(overrides={"embedding.backend": "http"})
    with pytest.raises(ConfigError, match="embedding.backend = 'hash' is invalid: expected 'onnx' or 'torch' or 'http'"):
        load_config(overrides={"embedding.backend": "hash"})
    register_backend(EmbeddingBackend("hash", lambda settings: HashEmbedder(name=settings.model)))
    try:
        config = load_config(overrides={"embedding.backend": "hash", "embedding.model": "toy"})
        assert Pipeline(index="unused", config=config).embedder().name == "toy"
    finally:
        unregister_backend("hash")


def pipeline(index: Path, endpoint: str) -> Pipeline:
    return Pipeline(index=str(index), config=load_config(overrides={
        "embedding.endpoint": endpoint, "embedding.model": MODEL, "embedding.retries": 0}))


def test_ingest_and_ask_through_the_server_record_where_the_vectors_came_from(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": "Packet switching was invented by Paul Baran.",
                                          "b.txt": "The ARPANET began in 1969."})
    with EmbeddingStub(HashEmbedder(name=MODEL)) as stub:
        rag = pipeline(tmp_path / "index", stub.endpoint)
        report = rag.ingest(docs)
        hits = rag.retriever().retrieve("Who invented packet switching?", 1).hits
        meta = rag.store().metadata()
    assert report.chunks_embedded == 2 and hits[0].chunk.source.endswith("a.txt")
    assert meta["embedding_model"] == MODEL and meta["embedding_origin"] == stub.endpoint
    refusal = f"built with embedding model '{MODEL}' .* got 'another-model'"  # the server's name counts
    with EmbeddingStub(HashEmbedder(name=MODEL), model="another-model") as other, \
            pytest.raises(IndexMismatchError, match=refusal):
        pipeline(tmp_path / "index", other.endpoint).ingest(docs)


def test_a_server_gone_mid_ingest_stops_it_and_a_rerun_completes_nothing_lost_or_doubled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.ingest.pipeline as stage

    monkeypatch.setattr(stage, "GROUP_CHUNKS", 3)
    docs = write_docs(tmp_path / "docs", {f"d{i}.txt": f"Fact {i}: the colour of box {i} is shade {i}."
                                          for i in range(12)})
    port = free_port()
    with EmbeddingStub(HashEmbedder(name=MODEL), port=port) as stub:
        rag = pipeline(tmp_path / "index", stub.endpoint)
        rag.embedder()  # the probe: the server was there at the start

        def vanish(done: int, total: int) -> None:
            if done >= 6 and stub.thread.is_alive():
                stub.stop()
        with pytest.raises(EmbeddingServerError, match=f"127.0.0.1:{port}/v1/embeddings failed"):
            rag.ingest(docs, on_progress=vanish)
    written = rag.store().count()
    assert 0 < written < 12
    with EmbeddingStub(HashEmbedder(name=MODEL), port=port):
        again = pipeline(tmp_path / "index", f"http://127.0.0.1:{port}/v1").ingest(docs)
    store = again_store = pipeline(tmp_path / "index", "http://unused:1/v1").store()
    manifest = again_store.manifest()
    assert again.files_added == 12 - written  # one chunk a file: only the unwritten ones again
    assert store.count() == 12 and len(store.ids()) == 12
    assert len(manifest) == 12 and {e.status for e in manifest.values()} == {"complete"}


def test_the_cli_embeds_through_the_endpoint_and_info_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    docs = write_docs(tmp_path / "docs", {"a.txt": "Packet switching was invented by Paul Baran."})
    (tmp_path / "rag.toml").write_text(f'[embedding]\nmodel = "{MODEL}"\nretries = 0\n', encoding="utf-8")
    common = ["--index", str(tmp_path / "index"), "--config", str(tmp_path / "rag.toml")]
    with EmbeddingStub(HashEmbedder(name=MODEL)) as stub:
        assert main(["ingest", str(docs), *common, "--embedding-endpoint", stub.endpoint, "--json"]) == 0
        assert main(["info", *common]) == 0
    assert f"embedding model: {MODEL} (64 dims, embedded by {stub.endpoint})" in capsys.readouterr().out
    assert main(["ingest", str(docs), *common, "--embedding-endpoint", stub.endpoint]) == 1  # the server is gone
    assert f"rag ingest: error: embedding server {stub.endpoint}/embeddings failed after 1 attempts" \
        in capsys.readouterr().err
