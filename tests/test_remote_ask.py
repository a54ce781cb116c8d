"""`rag ask` asking a running `rag serve` (--server / RAG_SERVER) over a real uvicorn on loopback
with fake models: the same answer object, streamed text, server errors, and the cases where it
answers locally instead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fake_pipeline, free_port, serving

from rag.cli import main
from rag.serve import create_app
from rag.types import Answer, Source, Span, Timings

DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing."}
QUESTION = "What do bees turn nectar into inside the hive?"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, object]]:
    pipeline = fake_pipeline(tmp_path, DOCS)
    with serving(create_app(pipeline)) as base:
        yield base, pipeline


def test_the_json_answer_from_the_server_is_the_local_one(server, capsys: pytest.CaptureFixture[str]) -> None:
    base, pipeline = server
    assert main(["ask", QUESTION, "--server", base, "--json", "--k", "2"]) == 0
    remote = json.loads(capsys.readouterr().out)
    local = pipeline.ask(QUESTION, k=2).to_dict()  # type: ignore[attr-defined]
    for key in ("answer", "refused", "sources", "cited", "span", "reason"):
        assert remote[key] == local[key], key


def test_streamed_output_and_options_the_server_takes(server, capsys, monkeypatch) -> None:
    base, _ = server
    monkeypatch.setenv("RAG_SERVER", base)
    assert main(["ask", QUESTION, "--retrieval", "dense", "--source", "owls.md"]) == 0
    out = capsys.readouterr().out
    assert "Sources:" in out and "owls.md" in out and "bees.txt" not in out  # the filter reached the server


def test_a_server_error_is_reported_with_its_message(server, capsys) -> None:
    base, _ = server
    assert main(["ask", QUESTION, "--server", base, "--source", "nothing*"]) == 2
    assert "rag serve answered 400" in capsys.readouterr().err


def test_without_a_server_answering_or_with_local_only_options_it_answers_here(server, capsys, tmp_path) -> None:
    base, _ = server
    missing = tmp_path / "no-index"
    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["ask", QUESTION, "--server", dead]) == 2  # local: then no index at the default path
    err = capsys.readouterr().err
    assert f"no rag serve at {dead}" in err and "answering here" in err
    assert main(["ask", QUESTION, "--server", base, "--votes", "3", "--index", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "--votes, --index needs the local pipeline" in err and "no index" in err
    assert main(["ask", QUESTION, "--server", "ftp://x"]) == 2
    assert "http:// or https://" in capsys.readouterr().err


def test_an_answer_survives_to_dict_and_back() -> None:
    timings = Timings(embed_query=0.01, retrieve=0.02, generate=1.5, total=1.6, tokens_generated=4,
                      time_to_first_token=0.4, prompt_tokens=800, check_support=0.1)
    answer = Answer("honey", False, sources=(Source("a.md", 3, "a.md#c0", 0.71, "Bees...", "Bees > Food"),),
                    cited=(1,), timings=timings, support=0.8, margin=1.9,
                    span=Span(1, "a.md#c0", 10, 15, "Bees make honey.", 10),
                    votes=(("honey", 2), ("<refusal>", 1)), drafts=("honey", "honey", "I don't know."))
    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer
