"""Extractive answers and the refusal margin on fakes: the span constraint's token logic, the
chain's spans, offsets and the calibrated-refusal gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_docs

from rag import Pipeline
from rag.answer.spans import locate, make_span
from rag.errors import ConfigError
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.generator.constraints import SpanConstraint, SpanMatch

EOS = 99


def emit(constraint: SpanConstraint, tokens: list[int]) -> None:
    for token in tokens:
        assert token in constraint.allowed(), f"{token} not allowed after {constraint.length} tokens"
        constraint.advance(token)


def test_first_token_may_be_any_text_token_or_the_refusal_start() -> None:
    c = SpanConstraint([[1, 2, 3], [4, 5]], refusal=[7, 8], eos_ids=[EOS])
    assert c.allowed() == {1, 2, 3, 4, 5, 7}  # no end before the first token


def test_only_continuations_of_a_span_are_allowed() -> None:
    c = SpanConstraint([[1, 2, 3, 2, 4]], refusal=[7, 8], eos_ids=[EOS])
    emit(c, [2])
    assert c.allowed() == {3, 4, EOS}  # "2" occurs twice: both continuations, or stop
    emit(c, [4])
    assert c.allowed() == {EOS}  # end of the text
    assert c.match() == SpanMatch(0, 3, 5)
    with pytest.raises(ValueError):
        c.advance(1)


def test_the_refusal_is_the_one_other_way_out() -> None:
    c = SpanConstraint([[1, 2]], refusal=[7, 8], eos_ids=[EOS])
    emit(c, [7])
    assert c.allowed() == {8}  # half a refusal may not end
    emit(c, [8])
    assert c.allowed() == {EOS} and c.is_refusal and c.match() is None


def test_a_span_crossing_two_texts_is_not_allowed() -> None:
    c = SpanConstraint([[1, 2], [3, 4]], refusal=[], eos_ids=[EOS])
    emit(c, [2])
    assert c.allowed() == {EOS}


def test_constraint_needs_something_to_emit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SpanConstraint([[]], refusal=[], eos_ids=[EOS])


def test_make_span_strips_space_and_finds_the_sentence() -> None:
    text = "Owls hunt at night. Bees make honey in hives. Trains run."
    start = text.index(" honey")
    span = make_span(2, "bees#c0", text, start, start + len(" honey"))
    assert text[span.start:span.end] == "honey"
    assert span.sentence == "Bees make honey in hives." and span.marked() == "Bees make «honey» in hives."
    assert locate("make honey", ["x", text]) == (1, text.index("make honey"), text.index("make honey") + 10)
    assert locate("MAKE HONEY", [text]) is not None and locate("wasps", [text]) is None


DOCS = {"owls.md": "# Owls\n\nOwls hunt mice at night using silent feathers and sharp hearing.",
        "bees.txt": "Bees collect nectar from flowers. They turn it into honey inside the hive."}


@pytest.fixture
def index(tmp_path: Path) -> Path:
    folder = write_docs(tmp_path / "docs", DOCS)
    Pipeline(index=tmp_path / "index", embedder=HashEmbedder()).ingest(folder, progress=False)
    return tmp_path / "index"


def pipe(index: Path, **options: object) -> Pipeline:
    return Pipeline(engine="generator", index=index, embedder=HashEmbedder(), generator=ExtractiveGenerator(), k=2,
                    min_support=None, **options)


def test_extractive_answer_is_a_span_of_its_source_with_exact_offsets(index: Path) -> None:
    answer = pipe(index, mode="extractive").ask("What do bees turn nectar into inside the hive?")
    assert not answer.refused and answer.span is not None
    source = DOCS[answer.sources[answer.span.block - 1].source.removeprefix("docs/")]
    assert answer.text == source[answer.span.start:answer.span.end] == "They turn it into honey inside the hive."
    assert answer.cited == (answer.span.block,) and answer.span.chunk_id.startswith("docs/bees.txt")


def test_free_answer_found_verbatim_gets_a_span_too(index: Path) -> None:
    answer = pipe(index, mode="free").ask("What do bees turn nectar into inside the hive?")
    assert answer.text.endswith("]")  # the fake cites its block
    assert answer.span is not None and answer.span.chunk_id.startswith("docs/bees.txt")
    assert answer.span.sentence == "They turn it into honey inside the hive."


def test_margin_below_the_threshold_is_withdrawn_with_its_draft(index: Path) -> None:
    question = "What do owls hunt at night using silent feathers?"
    kept = pipe(index).ask(question)
    assert kept.margin is not None and not kept.refused
    withdrawn = pipe(index, refusal_threshold=kept.margin + 0.01).ask(question)
    assert withdrawn.refused and withdrawn.reason == "refusal_threshold" and withdrawn.draft == kept.text
    assert withdrawn.margin == kept.margin
    off = pipe(index, refusal_threshold=kept.margin + 0.01, **{"answer.calibrated_refusal": False})
    assert not off.ask(question).refused


def test_the_adapter_cards_threshold_applies_unless_overridden(index: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "card.json").write_text(json.dumps({"refusal_thresholds": {"free": 1.5, "extractive": 2.5}}))
    assert pipe(index, adapter=str(adapter), mode="free").refusal_threshold() == 1.5
    assert pipe(index, adapter=str(adapter)).refusal_threshold() == 2.5  # extractive, the default
    assert pipe(index, adapter=str(adapter), refusal_threshold=-3).refusal_threshold() == -3
    assert pipe(index, adapter="none").refusal_threshold() is None  # no adapter, no card: no threshold
    with pytest.raises(ConfigError, match="answer.mode"):
        pipe(index, mode="abstractive")
    with pytest.raises(ConfigError, match="packaged adapter"):
        pipe(index, adapter="no-such-adapter").adapter_dir()
