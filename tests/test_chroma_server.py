"""Chroma client/server mode against a real `chroma run` on 127.0.0.1: incremental ingest, the
model check, filters, the lexical route, and the write lease between two writers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, write_docs

from rag import Pipeline
from rag.errors import IndexMismatchError, IngestLockedError
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.store import ChromaStore

pytestmark = pytest.mark.integration
DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing.",
        "codes.txt": "Error ZX-4471 means the runtime lost its handle. Restart it."}


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chroma = Path(sys.executable).parent / "chroma"
    if not chroma.is_file():
        pytest.skip("the chroma command is not installed beside this Python")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    server = subprocess.Popen([str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)


def client(url: str, tmp_path: Path, collection: str, **options: object) -> Pipeline:
    return Pipeline(engine="generator", index=tmp_path / "client", embedder=HashEmbedder(), generator=ExtractiveGenerator(),
                    mode="free", min_support=None,
                    **{"index.chroma_url": url, "index.collection": collection, **options})


def test_ingest_ask_and_reingest_through_a_server(chroma_url: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    first = client(chroma_url, tmp_path, "served").ingest(docs, progress=False)
    assert first.files_added == 3 and first.chunks_upserted > 0
    p = client(chroma_url, tmp_path, "served")
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert "honey" in answer.text and answer.sources[0].source == "docs/bees.txt"
    assert p.info()["index"] == chroma_url and p.info()["files"] == 3
    # Incremental: unchanged files cost nothing, an edit replaces, a removal deletes.
    again = client(chroma_url, tmp_path, "served").ingest(docs, progress=False)
    assert again.files_unchanged == 3 and again.chunks_upserted == 0
    (docs / "owls.md").write_text("# Owls\n\nBarn owls swallow voles whole.", encoding="utf-8")
    (docs / "codes.txt").unlink()
    changed = client(chroma_url, tmp_path, "served").ingest(docs, progress=False)
    assert (changed.files_updated, changed.files_removed) == (1, 1)
    # Filters and the lexical route behave as on a local index.
    lexical = client(chroma_url, tmp_path, "served", retrieval="lexical")
    assert lexical.retriever().retrieve("voles", 2).hits[0].chunk.source == "docs/owls.md"
    assert lexical.retriever().retrieve("ZX-4471", 2).hits == ()
    only = p.ask("What hunts at night?", filter={"source": "owls.md"})
    assert {s.source for s in only.sources} == {"docs/owls.md"}
    # A client with its own lexical file (another machine) builds it from the server.
    other = client(chroma_url, tmp_path / "elsewhere", "served", retrieval="lexical")
    assert other.retriever().retrieve("voles", 2).hits[0].chunk.source == "docs/owls.md"


def test_the_server_index_refuses_another_embedding_model(chroma_url: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    client(chroma_url, tmp_path, "model-check").ingest(docs, progress=False)
    other = Pipeline(index=tmp_path / "client", embedder=HashEmbedder(dimension=32, name="other-model"),
                     **{"index.chroma_url": chroma_url, "index.collection": "model-check"})
    with pytest.raises(IndexMismatchError, match="other-model"):
        other.ingest(docs, progress=False)


def test_two_writers_never_interleave_on_a_server_index(chroma_url: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    holder = ChromaStore(tmp_path / "a", "leased", chroma_url=chroma_url)
    with holder.write_lock(), pytest.raises(IngestLockedError, match="another ingest .* is writing"):
        client(chroma_url, tmp_path, "leased").ingest(docs, progress=False)
    assert client(chroma_url, tmp_path, "leased").ingest(docs, progress=False).files_added == 3


def test_every_command_that_opens_an_index_takes_chroma(chroma_url: str, tmp_path: Path) -> None:
    import json
    import os

    env = {k: v for k, v in os.environ.items() if k != "RAG_CHROMA_URL"}
    rag = [sys.executable, "-m", "rag.cli"]
    docs = write_docs(tmp_path / "docs", DOCS)
    run = lambda *args: subprocess.run([*rag, *args, "--chroma", chroma_url, "--index", str(tmp_path / "local")],  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=300)
    assert run("ingest", str(docs)).returncode == 0
    info = json.loads(run("info", "--json").stdout)
    assert info["index"] == chroma_url and info["files"] == 3
    assert not (tmp_path / "local" / "chroma.sqlite3").exists()  # nothing went to a local Chroma folder
    asked = json.loads(run("ask", "Which error means the runtime lost its handle?", "--json").stdout)
    assert asked["sources"][0]["source"] == "docs/codes.txt"
    assert run("forget", "bees.txt").returncode == 0  # its path alone: one root holds it
    assert json.loads(run("info", "--json").stdout)["files"] == 2


def test_a_writer_whose_lease_is_taken_over_mid_ingest_stops_with_a_clear_error(chroma_url: str,
                                                                                  tmp_path: Path) -> None:
    from rag.store.lease import LEASE_ID, LeaseLostError

    docs = write_docs(tmp_path / "docs", {f"d{i}.txt": f"Document {i} talks about topic {i}." for i in range(6)})
    writer = client(chroma_url, tmp_path, "taken")
    writer.ingest(write_docs(tmp_path / "first", {"a.txt": "First."}), progress=False)
    store = ChromaStore(tmp_path / "x", "taken", chroma_url=chroma_url)
    lease = store._client.get_collection("taken-lease")

    def take_over(done: int, total: int) -> None:  # mid-ingest: another writer overwrites the record
        if done > 0:
            lease.upsert(ids=[LEASE_ID], embeddings=[[1.0]], metadatas=[{"owner": "other-host:4242:cafe",
                                                                         "expires": time.time() + 60}])

    import rag.ingest.pipeline as stage  # small groups: several writes, the takeover between two

    original = stage.GROUP_CHUNKS
    stage.GROUP_CHUNKS = 2
    try:
        with pytest.raises(LeaseLostError, match="other-host:4242:cafe"):
            writer.ingest(docs, progress=False, on_progress=take_over, replace=True)
    finally:
        stage.GROUP_CHUNKS = original
    assert lease.get(ids=[LEASE_ID])["metadatas"][0]["owner"] == "other-host:4242:cafe"  # left to its holder
    assert len(store.ids()) < 1 + 6  # it stopped: not every document was written
