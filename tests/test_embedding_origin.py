"""Where an index's vectors came from: a server's vectors and the local model's share an index
only when both agree with the local model (minimum probe cosine >= 0.999), in both directions.
The rule on recorded metadata, then end to end with the real MiniLM behind a stub server, once
exact and once with other vectors (noise standing in for other weights or precision)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_docs
from embedding_stub import EmbeddingStub

from rag.config import load_config
from rag.embedding.agreement import AGREEMENT_MIN, PROBES, agreement
from rag.errors import IndexMismatchError
from rag.fakes import HashEmbedder
from rag.pipeline import Pipeline
from rag.store import check_embedding_model, origin_record

URL = "http://gpu-box:8000/v1"
LOCAL_INDEX = {"embedding_model": "m", "embedding_dimension": 8}  # an index from before origins: local


def test_the_same_origin_needs_no_measurement_and_a_new_index_records_its_own() -> None:
    check_embedding_model({**LOCAL_INDEX, "embedding_origin": URL}, "m", 8, "i", URL)
    check_embedding_model(LOCAL_INDEX, "m", 8, "i")
    assert origin_record({}, URL, 0.9995) == {"embedding_origin": URL, "embedding_agreement": json.dumps({URL: 0.9995})}
    assert origin_record(LOCAL_INDEX, "local", None) == {}


@pytest.mark.parametrize(("meta", "origin", "measured", "refusal"), [
    (LOCAL_INDEX, URL, None, "the server http://gpu-box:8000/v1 were never compared"),
    (LOCAL_INDEX, URL, 0.98, r"differ from the local model's \(minimum cosine 0.9800 < 0.999"),
    ({**LOCAL_INDEX, "embedding_origin": URL}, "local", None, "the server http://gpu-box:8000/v1 were never compared"),
    ({**LOCAL_INDEX, "embedding_origin": URL, "embedding_agreement": json.dumps({URL: 0.95})}, "local", None,
     r"minimum cosine 0.9500"),
    ({**LOCAL_INDEX, "embedding_origin": URL, "embedding_agreement": json.dumps({URL: 0.9999})}, "http://other:1/v1",
     None, "the server http://other:1/v1 were never compared"),
])
def test_another_origin_is_refused_unless_both_sides_agree_with_the_local_model(
        meta: dict[str, object], origin: str, measured: float | None, refusal: str) -> None:
    with pytest.raises(IndexMismatchError, match=refusal):
        check_embedding_model(meta, "m", 8, "i", origin, measured)


def test_agreeing_origins_share_an_index_both_ways() -> None:
    check_embedding_model(LOCAL_INDEX, "m", 8, "i", URL, AGREEMENT_MIN)
    recorded = {**LOCAL_INDEX, "embedding_origin": URL, "embedding_agreement": json.dumps({URL: 0.9999})}
    check_embedding_model(recorded, "m", 8, "i")
    check_embedding_model(recorded, "m", 8, "i", "http://other:1/v1", 0.99995)
    with pytest.raises(IndexMismatchError, match="built with embedding model 'm' \\(8 dims\\); got 'm' \\(4 dims\\)"):
        check_embedding_model(recorded, "m", 4, "i", URL)


def test_agreement_is_the_lowest_probe_cosine() -> None:
    assert agreement(HashEmbedder(), HashEmbedder()) == pytest.approx(1.0)
    assert agreement(HashEmbedder(), HashEmbedder(dimension=64, name="x")) == pytest.approx(1.0)
    assert agreement(HashEmbedder(), HashEmbedder(dimension=64, max_tokens=9)) > AGREEMENT_MIN
    assert len(PROBES) >= 10


def remote(index: Path, endpoint: str) -> Pipeline:
    return Pipeline(index=str(index), config=load_config(overrides={"embedding.endpoint": endpoint,
                                                                    "embedding.retries": 0}))


DOCS = {"net.txt": "Packet switching was invented independently by Paul Baran and Donald Davies.",
        "moon.txt": "Apollo 11 landed on the Moon in July 1969."}


@pytest.mark.integration
def test_a_server_with_the_local_vectors_shares_the_index_both_ways(minilm, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    Pipeline(index=str(tmp_path / "local")).ingest(docs)
    with EmbeddingStub(minilm) as stub:
        hits = remote(tmp_path / "local", stub.endpoint).retriever().retrieve("Who invented packet switching?", 1).hits
        remote(tmp_path / "served", stub.endpoint).ingest(docs)
    assert hits[0].chunk.source.endswith("net.txt")
    meta = Pipeline(index=str(tmp_path / "served")).store().metadata()
    assert meta["embedding_origin"] == stub.endpoint
    assert json.loads(meta["embedding_agreement"])[stub.endpoint] >= AGREEMENT_MIN
    local = Pipeline(index=str(tmp_path / "served")).retriever().retrieve("When did Apollo 11 land?", 1).hits
    assert local[0].chunk.source.endswith("moon.txt")


@pytest.mark.integration
def test_a_server_with_other_vectors_is_another_model_to_the_index_both_ways(minilm, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    Pipeline(index=str(tmp_path / "local")).ingest(docs)
    with EmbeddingStub(minilm, noise=0.01) as stub:
        with pytest.raises(IndexMismatchError, match=r"differ from the local model's \(minimum cosine 0\.9"):
            remote(tmp_path / "local", stub.endpoint).ingest(docs)
        remote(tmp_path / "served", stub.endpoint).ingest(docs)  # a new index takes them as its own
    assert Pipeline(index=str(tmp_path / "local")).store().metadata().get("embedding_origin") == "local"
    with pytest.raises(IndexMismatchError, match=f"holds 'all-MiniLM-L6-v2' vectors from the server {stub.endpoint}"):
        Pipeline(index=str(tmp_path / "served")).retriever()
