"""`rag serve`'s app on fake models: every route, errors as JSON, API key, queueing, and the
OpenAI-compatible generator backend against a real server on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import fake_pipeline, free_port, local_client, serving, write_docs

from rag import Pipeline
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.generator.base import StreamReport
from rag.generator.onnx_runner import Lanes
from rag.generator.openai_http import GeneratorHTTPError, OpenAICompatibleGenerator
from rag.serve import create_app

DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing."}
QUESTION = "What do bees turn nectar into inside the hive?"


class SlowGenerator(ExtractiveGenerator):
    """The extractive fake, sleeping before each piece (a busy model); counts pieces produced."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.pieces = 0

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        for piece in super().stream(*args, **kwargs):
            time.sleep(self.delay)
            self.pieces += 1
            yield piece


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return fake_pipeline(tmp_path, DOCS)


def events(body: str) -> list[tuple[str, Any]]:
    found = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        found.append((lines.get("event", ""), json.loads(lines["data"]) if lines["data"] != "[DONE]" else None))
    return found


def test_ask_returns_the_cli_json_object(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    out = client.post("/ask", json={"question": QUESTION, "k": 2}).json()
    assert "honey" in out["answer"] and out["refused"] is False
    assert out["sources"][0]["source"] == "docs/bees.txt" and {"generate", "total"} <= set(out["timings"])
    filtered = client.post("/ask", json={"question": QUESTION, "filter": {"source": "owls.md"}}).json()
    assert {s["source"] for s in filtered["sources"]} == {"docs/owls.md"}


def test_ask_stream_sends_pieces_then_the_whole_answer(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    for response in (client.post("/ask/stream", json={"question": QUESTION}),
                     client.post("/ask?stream=true", json={"question": QUESTION})):
        assert response.headers["content-type"].startswith("text/event-stream")
        found = events(response.text)
        pieces = "".join(data["text"] for kind, data in found if kind == "piece")
        assert found[-1][0] == "answer" and found[-1][1]["answer"] in pieces


def test_openai_chat_completions_with_and_without_streaming(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    body = {"model": "any", "messages": [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": QUESTION}], "max_tokens": 64,
            "temperature": 0}
    whole = client.post("/v1/chat/completions", json=body).json()
    assert whole["object"] == "chat.completion" and "honey" in whole["choices"][0]["message"]["content"]
    assert whole["rag"]["sources"][0]["source"] == "docs/bees.txt" and whole["usage"]["completion_tokens"] > 0
    streamed = client.post("/v1/chat/completions", json={**body, "stream": True}).text
    chunks = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.startswith(whole["choices"][0]["message"]["content"].split()[0])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and "rag" in chunks[-1]
    assert streamed.rstrip().endswith("data: [DONE]")


def test_errors_are_json_with_the_right_status(pipeline: Pipeline, tmp_path: Path) -> None:
    client = local_client(create_app(pipeline))
    bad = client.post("/ask", json={"question": "  "})
    assert bad.status_code == 400 and "question must be a non-empty string" in bad.json()["error"]["message"]
    assert client.post("/ask", json={"question": "x", "filter": {"source": "nope*"}}).status_code == 400
    assert client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]}
                       ).status_code == 400
    assert client.post("/ask", json={"k": 2}).status_code == 422  # no question: FastAPI's validation
    missing = Pipeline(engine="generator", index=tmp_path / "nothing", embedder=HashEmbedder(), generator=ExtractiveGenerator())
    lost = local_client(create_app(missing)).post("/ask", json={"question": "x"})
    assert lost.status_code == 404 and "no index" in lost.json()["error"]["message"]
    assert "Traceback" not in lost.text


def test_health_info_and_ingest(pipeline: Pipeline, tmp_path: Path) -> None:
    client = local_client(create_app(pipeline, ingest_roots=[tmp_path]))
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/info").json()["files"] == 2
    more = write_docs(tmp_path / "docs", {"cats.txt": "Cats purr when content and sleep most of the day."})
    report = client.post("/ingest", json={"folder": str(more)}).json()
    assert report["files_added"] == 1 and client.get("/info").json()["files"] == 3
    assert "purr" in client.post("/ask", json={"question": "When do cats purr?"}).json()["answer"]
    assert client.post("/ingest", json={"folder": str(tmp_path / "none")}).status_code == 400


def test_api_key_is_required_when_set(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline, api_key="s3cret"))
    assert client.get("/health").status_code == 200
    assert client.post("/ask", json={"question": QUESTION}).status_code == 401
    ok = client.post("/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200


def test_concurrent_requests_queue_for_the_model_without_errors(pipeline: Pipeline) -> None:
    pipeline._generator = SlowGenerator(0.001)
    client = local_client(create_app(pipeline))
    results: list[int] = []

    def ask() -> None:
        results.append(client.post("/ask", json={"question": QUESTION}).status_code)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8


class LanedGenerator(SlowGenerator):
    """The slow fake with lanes (as the ONNX generator has), recording answers at once."""

    def __init__(self, lanes: int) -> None:
        super().__init__(0.02)
        self.lanes = Lanes(lanes)
        self.most_at_once = 0

    def lane_count(self) -> int:
        return self.lanes.count

    def open_lanes(self) -> None:
        pass

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        with self.lanes.answering():
            self.most_at_once = max(self.most_at_once, self.lanes.running)
            yield from super().stream(*args, **kwargs)


@pytest.mark.parametrize("lanes", [1, 2])
def test_the_server_runs_as_many_answers_at_once_as_the_generator_has_lanes(pipeline: Pipeline,
                                                                              lanes: int) -> None:
    pipeline._generator = generator = LanedGenerator(lanes)
    client = local_client(create_app(pipeline))
    assert client.post("/ask", json={"question": QUESTION}).status_code == 200  # the chain is built
    paths = ["/ask", "/ask?stream=true", "/v1/chat/completions", "/ask"]
    bodies = [{"question": QUESTION}, {"question": QUESTION},
              {"messages": [{"role": "user", "content": QUESTION}]}, {"question": QUESTION}]
    results: list[int] = []
    threads = [threading.Thread(target=lambda p=p, b=b: results.append(client.post(p, json=b).status_code))
               for p, b in zip(paths, bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    assert generator.most_at_once == lanes


def test_a_request_waiting_past_the_queue_timeout_gets_503(pipeline: Pipeline) -> None:
    pipeline._generator = SlowGenerator(0.2)
    client = local_client(create_app(pipeline, queue_timeout=0.05))
    first = threading.Thread(target=lambda: client.post("/ask", json={"question": QUESTION}))
    first.start()
    time.sleep(0.1)
    busy = client.post("/ask", json={"question": QUESTION})
    first.join()
    assert busy.status_code == 503 and "busy" in busy.json()["error"]["message"]


@pytest.fixture
def server(pipeline: Pipeline) -> Iterator[str]:
    """A real uvicorn server on loopback serving the fake pipeline."""
    with serving(create_app(pipeline)) as base:
        yield f"{base}/v1"


def test_http_generator_against_a_real_server(server: str, tmp_path: Path) -> None:
    remote = OpenAICompatibleGenerator(server, "localrag")
    messages = [{"role": "user", "content": QUESTION}]
    whole = remote.generate(messages, 64)
    stats = StreamReport()
    streamed = "".join(remote.stream(messages, 64, stats))
    assert "honey" in whole.text and streamed == whole.text and stats.tokens > 0
    # A pipeline whose generator is that endpoint: retrieval and prompt here, generation there.
    client = Pipeline(engine="generator", index=tmp_path / "client-index", embedder=HashEmbedder(), mode="free",
                      min_support=None,
                      **{"generator.endpoint": server})
    client.ingest(write_docs(tmp_path / "client-docs", DOCS), progress=False)
    answer = client.ask("Where do owls hunt mice?")
    assert not answer.refused and answer.text and answer.margin is None
    with pytest.raises(GeneratorHTTPError, match="generator endpoint"):
        OpenAICompatibleGenerator(server.replace("/v1", "/nope"), "x").generate(messages, 8)


def test_a_client_that_disconnects_mid_stream_frees_the_generator(pipeline: Pipeline, server: str) -> None:
    import httpx

    slow = SlowGenerator(0.3)
    pipeline._generator = slow
    base = server.removesuffix("/v1")
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{base}/ask/stream", json={"question": QUESTION}) as response:
            for line in response.iter_lines():
                if line.startswith("event: piece"):
                    break  # one piece read, then the client goes away
        time.sleep(1.5)
        produced = slow.pieces
        time.sleep(1.0)
        assert slow.pieces == produced < 8  # generation stopped; the full answer has more pieces
        slow.delay = 0.0
        assert client.post(f"{base}/ask", json={"question": QUESTION}).status_code == 200  # the lock was released


def test_the_openai_client_library_talks_to_rag_serve(server: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=server, api_key="unused")
    whole = client.chat.completions.create(model="localrag", messages=[{"role": "user", "content": QUESTION}])
    assert "honey" in whole.choices[0].message.content
    assert whole.model_extra["rag"]["sources"][0]["source"] == "docs/bees.txt"  # the extra field survives
    pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="localrag", messages=[{"role": "user", "content": QUESTION}], stream=True) if c.choices]
    assert "".join(pieces) == whole.choices[0].message.content
    short = client.chat.completions.create(model="localrag", max_tokens=3,
                                           messages=[{"role": "user", "content": QUESTION}])
    assert len(short.choices[0].message.content.split()) == 3 and short.usage.completion_tokens == 3


def test_the_rag_serve_command_starts_on_loopback_and_refuses_an_open_bind_without_a_key(
        pipeline: Pipeline) -> None:
    import os
    import subprocess
    import sys

    import httpx

    index = str(pipeline.config.index.path)
    env = {k: v for k, v in os.environ.items() if k != "RAG_API_KEY"}
    exposed = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--index", index, "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert exposed.returncode == 2 and "set RAG_API_KEY" in exposed.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", index, "--port", str(port)],
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert f"http://127.0.0.1:{port}" in banner and "no API key (loopback only)" in banner
        for _ in range(200):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/info").json()["files"] == 2
    finally:
        server.terminate()
        server.wait(timeout=30)
