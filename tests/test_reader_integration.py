"""The extractive reader with real weights: the packaged reader answers and refuses through the
default pipeline, ONNX Runtime and PyTorch agree on its spans, it only ever returns a verbatim
span of a retrieved chunk or the refusal, and `rag train-reader` trains, resumes and writes a
reader the pipeline loads."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import SHARED

from rag import Pipeline
from rag.answer.reader.reader import SpanReader
from rag.datasets import load_squad

pytestmark = pytest.mark.integration
TRAIN10 = SHARED / "data" / "squad2" / "train10.json"
DEMO_ARTICLES = {"Packet_switching", "Immune_system", "Steam_engine", "Huguenot"}


@pytest.fixture(scope="module")
def reader() -> SpanReader:
    return SpanReader("squad2-minilm")


@pytest.fixture(scope="module")
def demo_questions(dev10_path: Path) -> list:
    """Questions about the demo corpus's articles (a test of behaviour, not a measurement)."""
    items = [i for i in load_squad(dev10_path).items if i.article in DEMO_ARTICLES]
    return random.Random(0).sample(items, 60)


def test_the_default_pipeline_answers_the_demo_question_with_the_packaged_reader(demo_index: Path, minilm) -> None:
    p = Pipeline(index=demo_index, embedder=minilm)
    answer = p.ask("Who invented packet switching?")
    assert answer.engine == "reader" and not answer.refused, answer
    assert "Baran" in answer.text or "Davies" in answer.text
    assert answer.span is not None and answer.span.marked().count("«") == 1
    refused = p.ask("Which football club won the 1998 World Cup final in Paris?")
    assert refused.refused and refused.reason == "no_answer" and refused.engine == "reader"


def test_the_packaged_reader_is_small_and_carries_its_card(reader: SpanReader) -> None:
    weights = reader.folder / "model.safetensors"
    assert weights.stat().st_size < 60 * 2**20
    card = reader.card
    assert card["no_answer_threshold"] is not None and card["calibration"]["n"] > 0
    assert not set(card["split"]["calibration_articles"]) & DEMO_ARTICLES


def test_onnx_and_pytorch_give_the_same_spans(reader: SpanReader, demo_questions: list) -> None:
    torch_reader = SpanReader("squad2-minilm", backend="torch")
    assert not reader.fallback
    for item in demo_questions[:20]:
        passages = [item.gold_context, "The weather in Lisbon was mild all week."]
        a, b = reader.read(item.question, passages), torch_reader.read(item.question, passages)
        assert (a.passage, a.start, a.end) == (b.passage, b.start, b.end), item.question
        assert a.gap == pytest.approx(b.gap, abs=2e-3)


def test_the_reader_returns_only_a_verbatim_span_of_a_retrieved_chunk_or_the_refusal(
        demo_index: Path, minilm, reader: SpanReader, demo_questions: list) -> None:
    p = Pipeline(index=demo_index, embedder=minilm, reader=reader)
    answered = 0
    for item in demo_questions:
        answer = p.ask(item.question)
        if answer.refused:
            assert answer.text == "I don't know." and answer.reason == "no_answer"
            continue
        answered += 1
        chunk = p.store().chunks_by_id([answer.span.chunk_id])[0]
        assert chunk.text[answer.span.start:answer.span.end] == answer.text
        assert answer.sources[answer.span.block - 1].chunk_id == chunk.id
    assert answered > 10


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """A real, tiny `rag train-reader` run on train10 (a training file) with calibration."""
    if not TRAIN10.is_file():
        pytest.skip(f"{TRAIN10} not present")
    from rag.cli import main

    out = tmp_path_factory.mktemp("reader") / "tiny"
    argv = ["train-reader", "--data", str(TRAIN10), "--out", str(out), "--work", str(out.parent / "work"),
            "--limit", "48", "--retrieval-articles", "0",
            "--max-length", "128", "--stride", "32", "--batch-size", "8", "--grad-accum", "1", "--epochs", "4",
            "--lr", "3e-4", "--calibration-articles", "Beyoncé", "--calibration-questions", "20", "--json"]
    assert main(argv) == 0
    return out, json.loads((out / "card.json").read_text())


def test_a_tiny_training_run_lowers_the_loss_and_writes_a_reader_the_pipeline_loads(
        tiny_run: tuple[Path, dict], demo_index: Path, minilm) -> None:
    out, card = tiny_run
    assert card["steps"] == card["total_steps"] > 10
    assert card["final_train_loss"] < card["first_train_loss"]
    assert card["calibration"]["n"] == 20 and card["no_answer_threshold"] is not None
    assert card["split"]["calibration_articles"] == ["Beyoncé"]
    p = Pipeline(index=demo_index, embedder=minilm, engine="reader", **{"answer.reader": str(out)})
    answer = p.ask("Who invented packet switching?")
    assert answer.engine == "reader" and (answer.refused or answer.span is not None)


def test_resume_continues_the_step_count_with_the_same_loss(tmp_path: Path) -> None:
    from rag.answer.reader.folder import encoder_folder
    from rag.answer.reader.windows import ReaderTokenizer
    from rag.train_reader.examples import paragraph_examples, squad_questions
    from rag.train_reader.features import build_features
    from rag.train_reader.train import ReaderTrainSettings, new_model, seed_everything, train

    if not TRAIN10.is_file():
        pytest.skip(f"{TRAIN10} not present")
    tokenizer = ReaderTokenizer(encoder_folder(None) / "tokenizer.json")
    examples = paragraph_examples(squad_questions([TRAIN10])[:24])
    features = build_features(examples, tokenizer, 128, 32)
    settings = ReaderTrainSettings(max_length=128, stride=32, batch_size=4, grad_accum=1, epochs=1.0,
                                   max_steps=6, save_every=100, lr=2e-4)

    def model():
        seed_everything(0)
        return new_model(encoder_folder(None))

    whole = train(model(), features, tokenizer.pad_id, settings, tmp_path / "whole", progress=False)
    cut = train(model(), features, tokenizer.pad_id, settings, tmp_path / "cut", progress=False, stop_after=3)
    assert cut.steps == 3 and (tmp_path / "cut" / "checkpoint.pt").is_file()
    resumed = train(model(), features, tokenizer.pad_id, settings, tmp_path / "cut", resume=True, progress=False)
    assert resumed.steps == whole.steps == 6
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-4)
