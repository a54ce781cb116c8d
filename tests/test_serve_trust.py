"""`rag serve`'s trust boundary on fake models: the Host and Origin checks (DNS rebinding,
cross-site posts), JSON only, the API key route by route, ingest roots, and what the server
never tells a client."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LOCAL, fake_pipeline, local_client, write_docs
from starlette.routing import Mount

from rag import Pipeline
from rag.fakes import ExtractiveGenerator
from rag.serve import create_app
from rag.serve.limits import ServeLimits
from rag.serve.trust import HostPolicy, host_name

DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing."}
QUESTION = "What do bees turn nectar into inside the hive?"
OPEN = {"/health", "/", "/static"}  # the only routes without the key: the page, its files, health
BODIES: dict[str, dict[str, Any]] = {
    "/ask": {"question": QUESTION}, "/ask/stream": {"question": QUESTION},
    "/v1/chat/completions": {"messages": [{"role": "user", "content": QUESTION}]},
    "/ingest": {"folder": "/tmp"}, "/ingest/jobs": {"folder": "/tmp"}}


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return fake_pipeline(tmp_path, DOCS)


def routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, its static mount as one file."""
    found = []
    for route in app.app.routes:
        if isinstance(route, Mount):
            found.append(("GET", route.path + "/style.css"))
            continue
        for method in sorted(route.methods - {"HEAD"}):
            path = route.path.replace("{job_id}", "nope")
            found.append((method, path + ("?name=x" if path == "/reports/summary" else "")
                          + ("?name=x&file=y" if path == "/reports/file" else "")))
    return found


def call(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    if method == "POST":
        return client.post(path, json=BODIES.get(path.split("?")[0], {}), **kwargs)
    return client.get(path, **kwargs)


def test_a_foreign_host_is_refused_on_every_route(pipeline: Pipeline) -> None:
    app = create_app(pipeline, api_key="k")
    client = local_client(app)
    every = routes(app)
    assert {p for _, p in every} >= {"/", "/health", "/info", "/ask", "/ingest", "/ingest/jobs",
                                     "/v1/chat/completions", "/reports", "/static/style.css"}
    for method, path in every:
        rebound = call(client, method, path, headers={"Host": "evil.example:8000", "Authorization": "Bearer k"})
        assert rebound.status_code == 421, (method, path)
        assert "--allowed-host" in rebound.json()["error"]["message"] and "bees" not in rebound.text
    assert client.get("/health", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/health", headers={"Host": "[::1]:8000"}).status_code == 200


def test_which_hosts_a_server_answers_follows_its_bind_and_allowed_names() -> None:
    loopback = HostPolicy("127.0.0.1")
    assert loopback.allows_host("127.0.0.1:8000") and loopback.allows_host("localhost")
    assert not loopback.allows_host("192.168.1.5:8000") and not loopback.allows_host("evil.example")
    assert not loopback.allows_host("") and not loopback.allows_host("localhost.evil.example")
    proxied = HostPolicy("127.0.0.1", ["rag.example.com"])
    assert proxied.allows_host("RAG.example.com") and proxied.allows_host("rag.example.com:443")
    everywhere = HostPolicy("0.0.0.0", ["box.lan"])
    assert everywhere.allows_host("192.168.1.5:8000") and everywhere.allows_host("[fe80::1]:8000")
    assert everywhere.allows_host("box.lan:8000") and not everywhere.allows_host("evil.example")
    assert HostPolicy("10.0.0.2").allows_host("10.0.0.2:8000") and not HostPolicy("10.0.0.2").allows_host("10.0.0.3")
    assert HostPolicy("127.0.0.1", ["*"]).allows_host("anything.example")
    assert host_name("[::1]:8000") == "::1" and host_name("Localhost.:80") == "localhost"


def test_a_cross_origin_post_is_refused_and_the_pages_own_is_served(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline, allowed_hosts=["rag.example.com"]))
    asked = {"question": QUESTION}
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "http://localhost:8000", "null"):
        refused = client.post("/ask", json=asked, headers={"Origin": origin})
        assert refused.status_code == 403 and "may not change anything" in refused.json()["error"]["message"]
    assert client.post("/ask", json=asked, headers={"Origin": LOCAL}).status_code == 200  # the page's own
    assert client.post("/ask", json=asked).status_code == 200  # no Origin: not a browser page (curl, SDKs)
    behind_proxy = client.post("/ask", json=asked, headers={"Origin": "https://rag.example.com"})
    assert behind_proxy.status_code == 200  # a proxy that rewrites Host to 127.0.0.1, its name allowed
    assert client.get("/info", headers={"Origin": "http://evil.example"}).status_code == 200  # reads are not posts


def test_only_json_bodies_are_read(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        sent = client.post("/ask", content=f'{{"question": "{QUESTION}"}}', headers={"Content-Type": kind})
        assert sent.status_code == 415 and "application/json" in sent.json()["error"]["message"]
    assert client.post("/ask", content=b'{"question": "x"}').status_code == 415  # no content type
    typed = client.post("/ask", content=f'{{"question": "{QUESTION}"}}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert typed.status_code == 200


def test_the_api_key_is_needed_on_every_route_but_health_and_the_page(pipeline: Pipeline) -> None:
    app = create_app(pipeline, api_key="s3cret", docs=True)
    client = local_client(app)
    for method, path in routes(app):
        public = path in OPEN or path.startswith("/static/")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status = call(client, method, path, headers=headers).status_code
            assert (status != 401) if public else (status == 401), (method, path, headers)
        keyed = call(client, method, path, headers={"Authorization": "Bearer s3cret"}).status_code
        assert keyed != 401, (method, path)
    assert ("GET", "/openapi.json") in routes(app)


def test_docs_are_off_unless_asked_for(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 404
    schema = local_client(create_app(pipeline, docs=True)).get("/openapi.json").json()
    assert "/ask" in schema["paths"]


def test_no_exception_text_reaches_a_client_and_no_key_reaches_the_log(
        pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("disk quota at /home/alice/secret-project")

    pipeline.info = broken  # type: ignore[method-assign]
    client = local_client(create_app(pipeline, api_key="s3cret-key"), raise_server_exceptions=False)
    with caplog.at_level(logging.DEBUG):
        failed = client.get("/info", headers={"Authorization": "Bearer s3cret-key"})
        client.get("/info", headers={"Authorization": "Bearer s3cret-kez"})
        client.post("/ask", json={"question": QUESTION}, headers={"Authorization": "Bearer s3cret-key"})
    assert failed.status_code == 500 and "alice" not in failed.text and "RuntimeError" not in failed.text
    assert "server's log" in failed.json()["error"]["message"]
    assert "alice" in caplog.text  # the log keeps it
    assert "s3cret" not in caplog.text
    assert "model_error" not in client.get("/health").json()


def test_ingest_over_http_is_off_unless_a_root_is_given(pipeline: Pipeline, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "more", {"cats.txt": "Cats purr when content."})
    client = local_client(create_app(pipeline))
    for path in ("/ingest", "/ingest/jobs"):
        off = client.post(path, json={"folder": str(docs)})
        assert off.status_code == 403 and "--ingest-root" in off.json()["error"]["message"]
    assert client.get("/info").json()["ingest"]["enabled"] is False
    assert client.get("/info").json()["files"] == 2


def test_ingest_outside_the_roots_by_path_dotdot_or_symlink_is_refused_and_writes_nothing(
        pipeline: Pipeline, tmp_path: Path) -> None:
    root = tmp_path / "shared"
    write_docs(root / "team", {"cats.txt": "Cats purr when content."})
    private = write_docs(tmp_path / "private", {"diary.txt": "My bank PIN is 4321."})
    (root / "escape").symlink_to(private, target_is_directory=True)
    client = local_client(create_app(pipeline, ingest_roots=[root]))
    before = client.get("/info").json()
    for folder in (str(private), str(root / ".." / "private"), str(root / "escape"), "/etc"):
        for path in ("/ingest", "/ingest/jobs"):
            refused = client.post(path, json={"folder": folder})
            message = refused.json()["error"]["message"]
            assert refused.status_code == 403 and str(root.resolve()) in message, (folder, path)
    after = client.get("/info").json()
    assert (after["files"], after["chunks"]) == (before["files"], before["chunks"])
    # Inside the root, a file that links out is reported and not read; the rest is ingested.
    (root / "team" / "leak.txt").symlink_to(private / "diary.txt")
    report = client.post("/ingest", json={"folder": str(root / "team")}).json()  # a second root
    assert report["files_added"] == 1 and [f["path"] for f in report["files_failed"]] == ["team/leak.txt"]
    assert client.get("/info").json()["files"] == before["files"] + 1  # the docs root is untouched
    assert "PIN" not in client.post("/ask", json={"question": "What is my bank PIN?"}).text
    assert client.post("/ingest", json={"folder": ""}).status_code == 400


def test_the_cli_ingest_still_follows_a_users_own_symlinks(tmp_path: Path) -> None:
    from rag.fakes import HashEmbedder

    elsewhere = write_docs(tmp_path / "elsewhere", {"notes.txt": "Notes about owls."})
    docs = write_docs(tmp_path / "docs", {"bees.txt": "Bees make honey."})
    os.symlink(elsewhere / "notes.txt", docs / "notes.txt")
    report = Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(docs, progress=False)
    assert report.files_added == 2 and not report.files_failed


class BlockedGenerator(ExtractiveGenerator):
    """The extractive fake, holding every answer until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
        self.release.wait(30)
        yield from super().stream(*args, **kwargs)


def test_limits_refuse_before_any_model_work(pipeline: Pipeline) -> None:
    embedded: list[str] = []
    embed = pipeline.embedder().embed_query
    pipeline.embedder().embed_query = lambda text: (embedded.append(text), embed(text))[1]  # type: ignore[method-assign]
    client = local_client(create_app(pipeline, limits=ServeLimits(max_body_bytes=4096, max_question_chars=100)))
    long = client.post("/ask", json={"question": "why " * 30})
    assert long.status_code == 400 and "at most 100" in long.json()["error"]["message"]
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x" * 101}]})
    assert chat.status_code == 400
    many = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}] * 65})
    assert many.status_code == 400 and "at most 64" in many.json()["error"]["message"]
    huge = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}],
                                                      "max_tokens": 100_000_000})
    assert huge.status_code == 400 and "answer budget of 128" in huge.json()["error"]["message"]
    assert embedded == []  # nothing was embedded, let alone generated
    big = client.post("/ask", json={"question": "x" * 5000})
    assert big.status_code == 413
    chunked = client.post("/ask", content=(b"x" * 1024 for _ in range(8)), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413  # no Content-Length: counted as it arrives
    assert client.post("/ask", json={"question": QUESTION}).status_code == 200 and embedded


def test_a_full_queue_is_refused_at_once_and_never_starves_the_page(pipeline: Pipeline) -> None:
    pipeline._generator = blocked = BlockedGenerator()
    waiting = 44  # more than anyio's 40 shared worker threads: the page's files still load
    statuses: list[int] = []
    with local_client(create_app(pipeline, limits=ServeLimits(max_waiting=waiting))) as client:
        askers = [threading.Thread(target=lambda: statuses.append(
            client.post("/ask", json={"question": QUESTION}).status_code)) for _ in range(waiting + 1)]
        for asker in askers:
            asker.start()
        for _ in range(300):
            if client.get("/health").json()["waiting"] == waiting:
                break
            time.sleep(0.05)
        assert client.get("/health").json()["waiting"] == waiting
        full = client.post("/ask", json={"question": QUESTION})
        assert full.status_code == 503 and "already waiting" in full.json()["error"]["message"]
        assert client.get("/static/style.css").status_code == 200 and client.get("/").status_code == 200
        assert not blocked.release.is_set() and client.get("/health").json()["busy"]  # all that while queued
        blocked.release.set()
        for asker in askers:
            asker.join()
    assert statuses == [200] * (waiting + 1)


def test_models_load_through_the_gate_whichever_route_comes_first(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.fakes import HashEmbedder

    loaded_on: list[str] = []

    def load(self: Any) -> ExtractiveGenerator:
        loaded_on.append(threading.current_thread().name)
        return ExtractiveGenerator()

    monkeypatch.setattr(Pipeline, "_local_generator", load)
    p = Pipeline(engine="generator", index=tmp_path / "index", embedder=HashEmbedder(), mode="free", min_support=None)
    p.ingest(write_docs(tmp_path / "docs", DOCS), progress=False)
    client = local_client(create_app(p))
    streamed = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}],
                                                          "stream": True})
    assert streamed.status_code == 200 and "honey" in streamed.text
    assert client.post("/ask", json={"question": QUESTION}).status_code == 200
    assert loaded_on and all(name.startswith("rag-model") for name in loaded_on), loaded_on
    assert len(loaded_on) == 1


def test_a_client_that_drops_a_whole_ask_stops_its_generation(pipeline: Pipeline) -> None:
    import httpx
    from conftest import serving

    class Slow(ExtractiveGenerator):
        pieces = 0

        def stream(self, *args: Any, **kwargs: Any) -> Iterator[str]:
            for piece in super().stream(*args, **kwargs):
                time.sleep(0.3)
                Slow.pieces += 1
                yield piece

    pipeline._generator = Slow()
    with serving(create_app(pipeline)) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base}/ask", json={"question": QUESTION}, timeout=0.5)  # not streamed; gone at 0.5 s
        time.sleep(1.5)
        produced = Slow.pieces
        time.sleep(1.0)
        assert Slow.pieces == produced < 8  # stopped: the whole answer has more pieces
