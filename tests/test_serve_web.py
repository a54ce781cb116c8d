"""The page's routes on fake models: the page and its static files (self-contained), answers
with passages and highlights, per-question settings, ingest jobs with progress, reports."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import fake_pipeline, local_client, make_eval_report, write_docs

from rag import Pipeline
from rag.answer.passages import best_sentence, passages
from rag.fakes import HashEmbedder
from rag.serve import create_app
from rag.serve.web import STATIC
from rag.types import Answer, Chunk, Source, Span

DOCS = {"bees.txt": "Bees live in hives. Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing."}
QUESTION = "What do bees turn nectar into inside the hive?"


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return fake_pipeline(tmp_path, DOCS)


def test_the_page_and_its_files_are_served_and_reach_no_other_host(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    scripts = ["/static/http.js", "/static/ask.js", "/static/views.js"]
    assert [link for link in linked if link.endswith(".js")] == scripts and "/static/style.css" in linked
    for name in ("http.js", "ask.js", "views.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for path in STATIC.iterdir():  # no URL of another host anywhere: no CDN, no web font
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", path.read_text(encoding="utf-8")), path.name
    assert client.get("/static/nothing.js").status_code == 404


def test_an_answer_brings_each_passage_with_the_answer_highlighted_exactly(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    out = client.post("/ask", json={"question": QUESTION, "k": 2, "passages": True}).json()
    assert not out["refused"] and out["span"] is not None
    first = out["passages"][out["span"]["block"] - 1]
    cited_aside = re.sub(r"\s*\[\d+\]", "", out["answer"])
    assert first["exact"] and first["text"][first["start"]:first["end"]] == cited_aside
    assert first["text"] == DOCS["bees.txt"]  # the whole chunk, not the 200-character snippet
    assert [p["chunk_id"] for p in out["passages"]] == [s["chunk_id"] for s in out["sources"]]
    assert "passages" not in client.post("/ask", json={"question": QUESTION}).json()  # only when asked


def test_the_streamed_answer_event_carries_the_passages(pipeline: Pipeline) -> None:
    from test_serve import events

    body = local_client(create_app(pipeline)).post("/ask/stream", json={"question": QUESTION, "passages": True}).text
    kind, answer = events(body)[-1]
    assert kind == "answer" and answer["passages"][0]["text"]


def test_retrieval_mode_can_change_per_question_and_is_checked(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    for mode in ("dense", "lexical", "hybrid"):
        out = client.post("/ask", json={"question": QUESTION, "retrieval": mode, "k": 1}).json()
        assert out["sources"][0]["source"] == "docs/bees.txt", mode
    lexical = client.post("/ask", json={"question": QUESTION, "retrieval": "lexical", "k": 2}).json()
    dense = client.post("/ask", json={"question": QUESTION, "retrieval": "dense", "k": 2}).json()
    assert lexical["sources"][0]["score"] != dense["sources"][0]["score"]  # BM25 vs cosine: another route ran
    assert client.post("/ask", json={"question": QUESTION, "retrieval": "fuzzy"}).status_code == 422


def test_switching_off_an_adapter_that_is_not_there_is_a_clear_400(pipeline: Pipeline) -> None:
    client = local_client(create_app(pipeline))
    off = client.post("/ask", json={"question": QUESTION, "adapter": False})
    assert off.status_code == 400 and "cannot be switched off" in off.json()["error"]["message"]
    options = client.get("/info").json()["ask"]
    assert options["adapter_switchable"] is False  # a fake generator in place: the page hides the switch


def test_info_tells_the_page_its_settings_and_the_roots(pipeline: Pipeline, tmp_path: Path) -> None:
    info = local_client(create_app(pipeline)).get("/info").json()
    assert info["ask"]["retrieval"] == "hybrid" and info["ask"]["retrieval_modes"] == ["dense", "lexical", "hybrid"]
    assert info["ask"]["k"] == 4
    assert [(r["label"], r["path"], r["documents"]) for r in info["roots"]] == [
        ("docs", str((tmp_path / "docs").resolve()), len(DOCS))]
    assert {f["source"] for f in info["sources"]} == {f"docs/{name}" for name in DOCS}
    assert all(f["ingested_at"] for f in info["sources"])


def wait_for_job(client: Any, job_id: str) -> dict:
    for _ in range(200):
        job = client.get(f"/ingest/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"ingest job {job_id} did not finish: {job}")


def test_an_ingest_job_reports_progress_and_its_outcome(pipeline: Pipeline, tmp_path: Path) -> None:
    more = write_docs(tmp_path / "docs", {f"cats{i}.txt": f"Cat number {i} purrs and sleeps." for i in range(5)})
    with local_client(create_app(pipeline, ingest_roots=[tmp_path])) as client:
        started = client.post("/ingest/jobs", json={"folder": str(more)})
        assert started.status_code == 202 and started.json()["state"] in ("queued", "running", "done")
        job = wait_for_job(client, started.json()["id"])
        assert job["state"] == "done" and job["report"]["files_added"] == 5
        assert job["done"] == job["total"] == 5  # one chunk a file
        failed = wait_for_job(client, client.post("/ingest/jobs", json={"folder": str(tmp_path / "none")}).json()["id"])
        assert failed["state"] == "failed" and "does not exist" in failed["error"]["message"]
        assert client.get("/info").json()["files"] == 7  # a failed ingest lost nothing
        assert client.get("/ingest/jobs/nope").status_code == 404


def test_ingest_progress_counts_up_to_the_chunks_to_embed(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    docs = write_docs(tmp_path / "docs", {f"d{i}.txt": f"Document {i} is about topic {i}." for i in range(7)})
    Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(docs, progress=False,
                                                                       on_progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 7) and seen[-1] == (7, 7)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_reports_list_summarise_and_serve_only_their_own_files(pipeline: Pipeline, tmp_path: Path) -> None:
    root = tmp_path / "reports"
    make_eval_report(root / "run-a")
    (root / "notes.txt").parent.mkdir(exist_ok=True)
    (root / "notes.txt").write_text("not a report")
    client = local_client(create_app(pipeline, reports=root))
    assert client.get("/reports").json()["reports"] == ["run-a"]
    summary = client.get("/reports/summary", params={"name": "run-a"}).json()
    assert summary["variants"] == ["default", "k=1"] and {"latency.png", "metrics.png"} <= set(summary["plots"])
    f1 = next(row for row in summary["rows"] if row[0] == "answer.f1")
    assert len(f1) == 3 and re.fullmatch(r"\d\.\d{3}", f1[1])
    png = client.get("/reports/file", params={"name": "run-a", "file": "metrics.png"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    for name, file in (("run-a", "../notes.txt"), ("..", "report.json"), ("run-a", "answers.jsonl"), ("nope", "x.png")):
        assert client.get("/reports/file", params={"name": name, "file": file}).status_code == 404, (name, file)
    empty = local_client(create_app(pipeline)).get("/reports/summary", params={"name": "run-a"})
    assert empty.status_code == 404 and "--reports" in empty.json()["error"]["message"]
    with pytest.raises(Exception, match="not a folder"):
        create_app(pipeline, reports=tmp_path / "missing")


def test_preloading_reports_the_model_state_on_health(pipeline: Pipeline) -> None:
    with local_client(create_app(pipeline, preload=True)) as client:
        for _ in range(100):
            health = client.get("/health").json()
            if health["model_state"] != "loading":
                break
            time.sleep(0.05)
        assert health["model_state"] == "ready" and health["model_loaded"] is True


def test_best_sentence_and_passages_highlight_what_the_answer_rests_on() -> None:
    text = "Owls hunt at night. Bees make honey from nectar. Cats sleep."
    assert text[slice(*best_sentence(text, "honey from nectar"))] == "Bees make honey from nectar."
    assert best_sentence(text, "zebras") is None
    chunk = Chunk("c1", text, "a.txt", None, 0, "h")
    sources = (Source("a.txt", None, "c1", 0.9, text[:10]), Source("b.txt", None, "gone", 0.5, "snippet"))
    exact = Answer("honey", False, sources=sources, span=Span(1, "c1", 30, 35, "Bees make honey from nectar.", 10))
    shown = passages(exact, {"c1": chunk})
    assert (shown[0].start, shown[0].end, shown[0].exact) == (30, 35, True) and text[30:35] == "honey"
    assert shown[1].text == "snippet" and shown[1].start is None  # a chunk no longer stored
    loose = passages(Answer("They make honey.", False, sources=sources[:1]), {"c1": chunk})[0]
    assert not loose.exact and text[loose.start:loose.end] == "Bees make honey from nectar."
    assert passages(Answer("I don't know.", True, sources=sources[:1]), {"c1": chunk})[0].start is None


def test_info_reports_what_an_interrupted_ingest_left_and_the_command_that_repairs_it(tmp_path: Path) -> None:
    from rag.store import ChromaStore

    class Killed(ChromaStore):
        def upsert(self, chunks, vectors):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt("killed")

    docs = write_docs(tmp_path / "docs", DOCS)
    index = tmp_path / "index"
    Pipeline(index=index, embedder=HashEmbedder()).ingest(docs, progress=False)
    (docs / "cats.txt").write_text("Cats purr.", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        Pipeline(index=index, embedder=HashEmbedder(), store=Killed(index)).ingest(docs, progress=False)
    info = local_client(create_app(Pipeline(index=index, embedder=HashEmbedder()))).get("/info").json()
    assert info["interrupted"]["pending"] == ["docs/cats.txt"]
    assert info["interrupted"]["command"] == f"rag ingest {docs.resolve()} --label docs"
    assert info["interrupted"]["roots"] == ["docs"] and info["roots"][0]["interrupted"] is True
    assert info["ingest"]["jobs_survive_restart"] is False
    Pipeline(index=index, embedder=HashEmbedder()).ingest(docs, progress=False)
    assert local_client(create_app(Pipeline(index=index, embedder=HashEmbedder()))).get("/info").json()["interrupted"] is None


def test_roots_over_http_a_plan_before_an_ingest_and_forget(pipeline: Pipeline, tmp_path: Path) -> None:
    shelf = tmp_path / "shelf"
    write_docs(shelf / "wiki", {"bees.txt": "Wiki bees dance to show where flowers are."})
    client = local_client(create_app(pipeline, ingest_roots=[shelf, tmp_path / "docs"]))
    plan = client.post("/ingest/plan", json={"folder": str(shelf / "wiki")}).json()
    assert (plan["root"], plan["new_root"], plan["documents"], plan["removes"]) == ("wiki", True, 1, [])
    assert client.get("/info").json()["files"] == len(DOCS)  # a plan writes nothing
    report = client.post("/ingest", json={"folder": str(shelf / "wiki")}).json()
    assert (report["root"], report["new_root"], report["files_removed"]) == ("wiki", True, 0)
    info = client.get("/info").json()
    assert [(r["label"], r["documents"]) for r in info["roots"]] == [("docs", len(DOCS)), ("wiki", 1)]
    replace = client.post("/ingest/plan", json={"folder": str(shelf / "wiki"), "replace": True}).json()
    assert replace["removes"] == sorted(f"docs/{n}" for n in DOCS) and replace["removes_roots"] == ["docs"]
    assert client.post("/ingest/plan", json={"folder": "/etc"}).status_code == 403  # same roots as ingest
    gone = client.post("/forget", json={"target": "docs"}).json()
    assert gone["chunks_deleted"] >= len(DOCS)
    assert [r["label"] for r in client.get("/info").json()["roots"]] == ["wiki"]
    assert client.post("/forget", json={"target": "nope"}).status_code == 400
    off = local_client(create_app(pipeline)).post("/forget", json={"target": "wiki"})
    assert off.status_code == 403 and "--ingest-root" in off.json()["error"]["message"]
    assert [r["label"] for r in client.get("/info").json()["roots"]] == ["wiki"]
