"""The verifier in the chain: a reader whose card holds a verifier answers with a confidence and
refuses below its threshold, naming the confidence; `--min-confidence` overrides the card's; a
card without one keeps the gap rule; a malformed block is an error naming the field, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.answer.reader.folder import resolve_reader
from rag.cli import main

pytestmark = pytest.mark.integration
# confidence = sigmoid(gap - 1): the block a fit could give, written by hand so the test knows it
BLOCK = {"features": ["gap"], "mean": [0.0], "scale": [1.0], "weights": [1.0], "bias": -1.0,
         "threshold": 0.5, "label": "f1 >= 0.5"}


def reader_with(tmp_path: Path, block: object) -> Path:
    folder = tmp_path / "reader"
    shutil.copytree(resolve_reader("squad2-minilm"), folder)
    card = json.loads((folder / "card.json").read_text())
    card["verifier"] = block
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_answers_carry_a_confidence_and_a_low_one_is_refused_naming_it(tmp_path: Path, demo_index: Path,
                                                                        minilm) -> None:
    from rag.pipeline import Pipeline

    p = Pipeline(index=demo_index, embedder=minilm, **{"answer.reader": str(reader_with(tmp_path, BLOCK))})
    answer = p.ask("Who invented packet switching?")
    assert not answer.refused and answer.confidence is not None and answer.confidence > 0.5
    assert answer.confidence == pytest.approx(1 / (1 + pow(2.718281828, -(answer.margin - 1))), abs=1e-3)
    refused = p.ask("What colour is the okapi?")
    assert refused.refused and refused.reason == "low_confidence"
    assert refused.confidence is not None and refused.confidence < 0.5
    assert refused.to_dict()["confidence"] == refused.confidence
    strict = Pipeline(index=demo_index, embedder=minilm, **{"answer.reader": str(reader_with(tmp_path / "s", BLOCK)),
                                                            "answer.min_confidence": 0.999})
    assert strict.ask("Who invented packet switching?").reason == "low_confidence"


def test_a_card_without_a_verifier_keeps_the_gap_rule(demo_index: Path, minilm) -> None:
    from rag.pipeline import Pipeline

    answer = Pipeline(index=demo_index, embedder=minilm).ask("What colour is the okapi?")
    assert answer.refused and answer.reason == "no_answer" and answer.confidence is None


def test_the_cli_names_the_confidence_and_a_malformed_block_exits_2(tmp_path: Path, demo_index: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    good = reader_with(tmp_path / "good", BLOCK)
    code = main(["ask", "What colour is the okapi?", "--index", str(demo_index), "--reader", str(good), "--no-stream"])
    out = capsys.readouterr().out
    assert code == 0 and "(refused: confidence 0." in out and "is below the threshold" in out
    bad = reader_with(tmp_path / "bad", {**BLOCK, "weights": [1.0, 2.0]})
    assert main(["ask", "Who invented packet switching?", "--index", str(demo_index), "--reader", str(bad)]) == 2
    assert "verifier.weights must be a list of 1 finite numbers" in capsys.readouterr().err


def test_post_ask_and_the_openai_endpoint_carry_the_confidence(tmp_path: Path, demo_index: Path, minilm) -> None:
    from conftest import local_client

    from rag.pipeline import Pipeline
    from rag.serve import create_app

    p = Pipeline(index=demo_index, embedder=minilm, **{"answer.reader": str(reader_with(tmp_path, BLOCK))})
    client = local_client(create_app(p))
    asked = client.post("/ask", json={"question": "Who invented packet switching?"}).json()
    assert isinstance(asked["confidence"], float) and asked["confidence"] > 0.5
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "What colour is the okapi?"}]}).json()
    assert chat["rag"]["reason"] == "low_confidence" and chat["rag"]["confidence"] < 0.5


def test_rag_eval_reports_the_confidence_of_each_variant(tmp_path: Path, minilm) -> None:
    """Confidence AUC, ECE, risk-coverage and the reliability plot; a stricter cut withdraws more
    answers but is judged on the same candidates, so its confidence figures do not move."""
    from conftest import FIXTURES

    from rag.eval.harness import EvalRun, Harness

    run = EvalRun(data=FIXTURES / "tiny_squad.json", out=tmp_path / "out", progress=False,
                  variants=("default", "answer.min_confidence=0.99"),
                  options={"answer.reader": str(reader_with(tmp_path, BLOCK))})
    report = Harness(run, embedder=minilm).execute()["variants"]
    loose, strict = report["default"]["confidence"], report["answer.min_confidence=0.99"]["confidence"]
    assert loose["n"] == strict["n"] > 0 and loose["confidence_auc"] == strict["confidence_auc"]
    assert 0.0 <= loose["ece"] <= 1.0 and set(loose["risk_coverage"]) == {"50%", "70%", "90%"}
    assert report["answer.min_confidence=0.99"]["answer"]["refusal_rate"] >= report["default"]["answer"]["refusal_rate"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    judged = [r["scores"] for r in rows if r["variant"] == "default" and "confidence" in r["scores"]]
    assert len(judged) == loose["n"] and all(isinstance(s["right"], bool) for s in judged)
    assert (tmp_path / "out" / "reliability.png").stat().st_size > 1000
    assert "| confidence.confidence_auc |" in (tmp_path / "out" / "report.md").read_text()


GENERATED = {"features": ["reader_f1"], "mean": [0.0], "scale": [1.0], "weights": [4.0], "bias": -2.0,
             "threshold": 0.5}  # confidence = sigmoid(4 x reader_f1 - 2): right when the reader agrees


def test_generated_answers_carry_the_readers_check_and_a_low_one_is_refused(tmp_path: Path, demo_index: Path,
                                                                           minilm) -> None:
    from rag.fakes import ExtractiveGenerator
    from rag.pipeline import Pipeline

    folder = reader_with(tmp_path, BLOCK)
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "generator_verifier": GENERATED}))

    def pipe(**options: object) -> Pipeline:
        return Pipeline(index=demo_index, embedder=minilm, engine="generator", generator=ExtractiveGenerator(),
                        mode="free", min_support=None, **{"answer.reader": str(folder), **options})

    answer = pipe().ask("Who invented packet switching?")
    reader_span = Pipeline(index=demo_index, embedder=minilm, **{"answer.reader": str(folder)}).ask(
        "Who invented packet switching?").text
    from rag.answer.match import f1_score

    expected = 1 / (1 + pow(2.718281828, -(4 * f1_score(answer.draft or answer.text, [reader_span]) - 2)))
    assert answer.engine == "generator" and answer.confidence == pytest.approx(expected, abs=1e-3)
    strict = pipe(**{"answer.min_confidence": 0.999}).ask("Who invented packet switching?")
    assert strict.refused and strict.reason == "low_confidence" and strict.confidence == answer.confidence
    assert pipe().chain(closed_book=True).answerer.check is None  # nothing retrieved to check


def test_calibrate_fits_the_readers_and_the_generators_verifier_into_the_card(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import FIXTURES

    from rag.answer.generative import GenerativeAnswerer
    from rag.answer.prompt import load_template
    from rag.answer.verify.features import FEATURES, GENERATED_FEATURES
    from rag.fakes import ExtractiveGenerator

    folder = reader_with(tmp_path, BLOCK)
    data = json.loads((FIXTURES / "tiny_squad.json").read_text())  # both articles held back, one more to train
    filler = {"context": "Okapis live in the Congo.", "qas": [{"id": "f1", "question": "Where do okapis live?",
              "is_impossible": False, "answers": [{"text": "the Congo", "answer_start": 15}]}]}
    data["data"].append({"title": "Okapi", "paragraphs": [filler]})
    (tmp_path / "squad.json").write_text(json.dumps(data))
    args = ["train-reader", "--data", str(tmp_path / "squad.json"), "--out", str(folder),
            "--calibration-articles", "Normans,Packet_switching", "--work", str(tmp_path / "work"), "--json"]
    assert main([*args, "--calibrate"]) == 0
    block = json.loads(capsys.readouterr().out)
    card = json.loads((folder / "card.json").read_text())
    assert card["verifier"] == block and block["features"] == list(FEATURES) and block != BLOCK
    assert block["fit_questions"] + block["report_questions"] == 24 and 0.0 <= block["threshold"] <= 1.0
    assert (tmp_path / "work" / "reliability.png").is_file()
    # The generator's: its answers (a fake generator here) checked by the reader.
    monkeypatch.setattr("rag.train_reader.verifier._generating", lambda pipeline: GenerativeAnswerer(
        ExtractiveGenerator(), load_template(None), "I don't know.", 64, "free"))
    assert main([*args, "--calibrate", "generator"]) == 0
    generated = json.loads(capsys.readouterr().out)
    card = json.loads((folder / "card.json").read_text())
    assert card["generator_verifier"] == generated and card["verifier"] == block  # the reader's is kept
    assert generated["features"] == list(GENERATED_FEATURES) and generated["report_questions"] > 0
