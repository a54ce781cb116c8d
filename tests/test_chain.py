"""The query chain on a fake generator: sources, gates, streaming, LangChain interop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import write_docs
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from rag import Pipeline
from rag.chain import EMPTY_INDEX
from rag.errors import IndexNotFoundError, InputError
from rag.fakes import ExtractiveGenerator, HashEmbedder

DOCS = {
    "owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing.",
    "bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
    "trains.txt": "Steam locomotives burned coal to boil water and drive their pistons.",
}


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = write_docs(tmp_path / "docs", DOCS)
    return folder


def pipe(index: Path, generator: ExtractiveGenerator | None = None, **options: object) -> Pipeline:
    return Pipeline(engine="generator", index=index, embedder=HashEmbedder(), generator=generator or ExtractiveGenerator(),
                    **{"mode": "free", **options})


def test_answer_carries_text_citation_sources_and_timings(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index", k=2)
    p.ingest(docs, progress=False)
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert "honey" in answer.text and not answer.refused
    assert answer.sources[0].source == "docs/bees.txt" and answer.cited == (1,)
    assert len(answer.sources) == 2 and answer.sources[0].score >= answer.sources[1].score
    assert answer.sources[0].chunk_id == "docs/bees.txt#c0" and answer.sources[0].snippet.startswith("Bees")
    t = answer.timings
    assert t.total >= t.generate >= 0 and t.tokens_generated > 0 and t.prompt_tokens > 0


def test_unanswerable_question_is_refused(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    answer = p.ask("Which river runs through Vienna?")
    assert answer.refused and answer.text == "I don't know."


def test_min_score_gate_refuses_without_generating(docs: Path, tmp_path: Path) -> None:
    generator = ExtractiveGenerator()
    p = pipe(tmp_path / "index", generator, min_score=0.99)
    p.ingest(docs, progress=False)
    answer = p.ask("What do bees make?")
    assert answer.refused and answer.reason == "min_score" and generator.calls == 0
    assert answer.sources  # the user still sees what was found
    ungated = pipe(tmp_path / "index", generator, min_score=0.0).ask("What do bees turn nectar into?")
    assert not ungated.refused and generator.calls == 1


def test_an_empty_index_says_so(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    for source in DOCS:
        p.forget(source)
    generator = ExtractiveGenerator()
    answer = pipe(tmp_path / "index", generator).ask("Anything?")
    assert answer.refused and answer.text == EMPTY_INDEX and generator.calls == 0


def test_bad_questions_and_missing_index_are_clear_errors(docs: Path, tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no index at"):
        pipe(tmp_path / "missing").ask("Anything?")
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    for bad in ("", "   \n"):
        with pytest.raises(InputError, match="non-empty"):
            p.ask(bad)
    with pytest.raises(InputError, match="question too long"):
        pipe(tmp_path / "index", ExtractiveGenerator(context_window=256), max_new_tokens=64
             ).ask("why " * 400)


def test_stream_yields_the_same_text_as_ask(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    stream = p.stream("How do owls hunt mice at night?")
    pieces = list(stream)
    assert len(pieces) > 1 and stream.answer is not None
    assert "".join(pieces).strip() == stream.answer.text == p.ask("How do owls hunt mice at night?").text


def test_closed_book_uses_no_retrieval(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    answer = p.chain(closed_book=True).ask("What do bees make?")
    assert answer.sources == () and answer.refused  # the fake knows nothing without context


def test_langchain_retriever_and_runnable_compose(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index", k=2)
    p.ingest(docs, progress=False)
    documents = p.as_retriever().invoke("steam locomotives coal")
    assert isinstance(documents[0], Document) and len(documents) == 2
    assert documents[0].metadata["source"] == "docs/trains.txt" and documents[0].metadata["score"] > 0
    lcel = RunnableLambda(lambda d: d["q"]) | p.as_runnable()
    assert "honey" in lcel.invoke({"q": "What do bees turn nectar into?"}).text
    text = p.as_runnable(text=True)
    assert "".join(text.stream("What do bees turn nectar into?")) == text.invoke(
        "What do bees turn nectar into?")


class Fabricator(ExtractiveGenerator):
    """Answers every question with a claim none of the documents make."""

    def _answer(self, messages):  # type: ignore[no-untyped-def]
        return "Penguins migrate across Antarctica every winter."


def test_an_answer_the_sources_do_not_support_is_withdrawn(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index", Fabricator())
    p.ingest(docs, progress=False)
    answer = p.ask("What do bees turn nectar into?")
    assert answer.refused and answer.reason == "unsupported" and answer.text == "I don't know."
    assert answer.draft == "Penguins migrate across Antarctica every winter."
    assert answer.support is not None and answer.support < 0.3 and answer.cited == ()
    assert answer.sources  # what was retrieved is still shown
    stream = p.stream("What do bees turn nectar into?")
    streamed = "".join(stream)
    assert streamed.startswith(answer.draft) and "Withdrawn" in streamed
    assert stream.answer == dataclasses.replace(answer, timings=stream.answer.timings)


def test_a_supported_answer_keeps_its_score_and_the_check_can_be_off(docs: Path, tmp_path: Path) -> None:
    p = pipe(tmp_path / "index")
    p.ingest(docs, progress=False)
    answer = p.ask("What do bees turn nectar into inside the hive?")
    assert not answer.refused and answer.support is not None and answer.support > 0.9
    unchecked = pipe(tmp_path / "index", Fabricator(), min_support="none").ask("What do bees make?")
    assert not unchecked.refused and unchecked.support is None
    assert unchecked.text.startswith("Penguins")
