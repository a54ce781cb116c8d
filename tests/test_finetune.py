"""Fine-tuning pieces on fakes: example targets, the split, threshold fitting, the schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_docs

from rag import Pipeline
from rag.datasets import EvalItem, load_squad
from rag.errors import InputError
from rag.fakes import ExtractiveGenerator, HashEmbedder
from rag.finetune.calibrate import CalibrationRow, answerable_refusal_rate, fit_threshold, squad2_score
from rag.finetune.examples import NOT_RETRIEVED, SPAN, UNANSWERABLE, build_examples, kind_counts
from rag.finetune.run import FinetuneRun, calibration_items, load_split
from rag.finetune.train import TrainSettings, bucketed_batches, schedule

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DOCS = {"bees.txt": "Bees collect nectar from flowers and turn it into honey inside the hive.",
        "owls.txt": "Owls hunt mice at night using silent feathers and sharp hearing.",
        "trains.txt": "Steam locomotives burned coal to boil water and drive their pistons."}


@pytest.fixture
def chain(tmp_path: Path):
    folder = write_docs(tmp_path / "docs", DOCS)
    p = Pipeline(engine="generator", index=tmp_path / "index", embedder=HashEmbedder(), generator=ExtractiveGenerator(), k=1)
    p.ingest(folder, progress=False)
    return p.chain()


def test_targets_are_spans_or_the_refusal_by_what_was_retrieved(chain) -> None:
    items = [EvalItem("a", "What do bees turn nectar into inside the hive?", ("honey",), True),
             EvalItem("b", "What do bees turn nectar into inside the hive?", ("a river",), False),
             # answerable, but the answer's document is not the one retrieved (k=1)
             EvalItem("c", "What do owls hunt at night using silent feathers?", ("coal",), True)]
    examples = {e.id: e for e in build_examples(items, chain, limit=3, shares={SPAN: 0.34, UNANSWERABLE: 0.33,
                                                                                NOT_RETRIEVED: 0.33},
                                                progress=False)}
    assert (examples["a"].kind, examples["a"].target) == (SPAN, "honey")
    assert (examples["b"].kind, examples["b"].target) == (UNANSWERABLE, "I don't know.")
    assert (examples["c"].kind, examples["c"].target) == (NOT_RETRIEVED, "I don't know.")
    # The prompt is the one `ask` builds: same template, the retrieved block inside.
    assert "<doc id=\"1\"" in examples["a"].messages[-1]["content"] and "Question:" in examples["a"].messages[-1]["content"]
    assert kind_counts(examples.values()) == {SPAN: 1, UNANSWERABLE: 1, NOT_RETRIEVED: 1}


def test_quotas_hold_the_mix_of_kinds(chain) -> None:
    items = [EvalItem(f"u{i}", "Which river runs through Vienna?", (), False) for i in range(10)]
    items += [EvalItem(f"s{i}", "What do bees turn nectar into inside the hive?", ("honey",), True) for i in range(10)]
    examples = build_examples(items, chain, limit=10, shares={SPAN: 0.7, UNANSWERABLE: 0.3}, progress=False)
    assert kind_counts(examples)[SPAN] == 7 and kind_counts(examples)[UNANSWERABLE] == 3


def test_the_split_never_yields_held_apart_articles_and_calibration_never_reuses_examples() -> None:
    run = FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out="unused", exclude_articles=("Normans",))
    pool, articles = load_split(run)
    assert pool and {i.article for i in pool} == {"Packet_switching"}
    assert [a["title"] for a in articles] == ["Packet_switching"]
    used = {i.id for i in pool[:5]}
    held = calibration_items(pool, used, 4, seed=0)
    assert len(held) == 4 and not used & {i.id for i in held}
    assert {i.article for i in held} == {"Packet_switching"}
    with pytest.raises(InputError, match="not in the dataset"):
        load_split(FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out="x", articles=("Nope",)))


def test_threshold_maximises_squad2_f1_by_hand() -> None:
    rows = [CalibrationRow(5.0, True, False, 1.0),    # confident and right
            CalibrationRow(1.0, True, False, 0.5),    # hesitant, half right
            CalibrationRow(0.0, False, False, 0.0),   # unanswerable, answered anyway
            CalibrationRow(-2.0, False, False, 0.0),  # unanswerable, answered anyway
            CalibrationRow(None, False, True, 0.0)]   # refused by the model
    assert squad2_score(rows, None) == pytest.approx((1.0 + 0.5 + 0 + 0 + 1) / 5)
    threshold, best, baseline = fit_threshold(rows)
    # Cutting between 0.0 and 1.0 refuses both unanswerables and keeps both answers: 4.5 / 5.
    assert threshold == pytest.approx(0.5) and best == pytest.approx(0.9) and baseline == pytest.approx(0.5)
    assert squad2_score(rows, 3.0) == pytest.approx((1.0 + 0 + 1 + 1 + 1) / 5)  # 3.0 loses the 0.5
    with pytest.raises(ValueError):
        fit_threshold([])


def test_the_refusal_cap_rules_out_refusing_everything() -> None:
    wrong = [CalibrationRow(1.0, True, False, 0.0), CalibrationRow(2.0, True, False, 0.0),
             CalibrationRow(1.5, False, False, 0.0), CalibrationRow(0.5, False, False, 0.0)]
    threshold, best, _ = fit_threshold(wrong)  # every answer is wrong: refusing both unanswerables wins
    assert threshold == pytest.approx(1.75) and best == pytest.approx(0.5)
    assert answerable_refusal_rate(wrong, threshold) == 0.5
    assert fit_threshold(wrong, max_refusal=0.25)[0] == pytest.approx(0.75)  # only the unanswerable 0.5 goes
    # A model that already refuses half the answerable questions leaves no room under the cap.
    shy = [CalibrationRow(0.0, True, True, 0.0), CalibrationRow(0.0, True, True, 0.0),
           CalibrationRow(1.0, True, False, 0.0), CalibrationRow(1.5, False, False, 0.0)]
    assert fit_threshold(shy)[0] is not None and fit_threshold(shy, max_refusal=0.25)[0] is None
    # A cut that refuses one answerable question of four, and both unanswerable ones, is allowed.
    mixed = [CalibrationRow(3.0, True, False, 1.0), CalibrationRow(2.5, True, False, 1.0),
             CalibrationRow(2.2, True, False, 1.0), CalibrationRow(0.2, True, False, 0.0),
             CalibrationRow(1.0, False, False, 0.0), CalibrationRow(0.8, False, False, 0.0)]
    threshold, best, baseline = fit_threshold(mixed, max_refusal=0.25)
    assert threshold == pytest.approx(1.6) and best == pytest.approx(5 / 6) and baseline == pytest.approx(0.5)
    assert answerable_refusal_rate(mixed, threshold) == 0.25


def test_batches_group_lengths_and_the_schedule_is_reproducible() -> None:
    lengths = [10, 500, 12, 480, 11, 490, 13, 470]
    batches = bucketed_batches(lengths, 2, seed=0, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(8))
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 20 for b in batches)
    order, steps = schedule(TrainSettings(batch_size=2, grad_accum=2, epochs=2), lengths)
    assert steps == 4 and len(order) == 8 and order == schedule(TrainSettings(batch_size=2, grad_accum=2, epochs=2), lengths)[0]
    assert schedule(TrainSettings(batch_size=2, grad_accum=2, epochs=2, max_steps=1), lengths)[1] == 1
    with pytest.raises(ValueError, match="lr"):
        TrainSettings(lr=0)


def test_squad_fixture_has_both_kinds() -> None:
    items = load_squad(FIXTURES / "tiny_squad.json").items
    assert any(i.answerable for i in items) and any(not i.answerable for i in items)


def test_cli_finetune_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    from rag.cli import main

    tiny = str(FIXTURES / "tiny_squad.json")
    assert main(["finetune", "--data", tiny, "--out", str(tmp_path / "a"), "--articles", "Nope"]) == 2
    assert "article 'Nope' is not in the dataset" in capsys.readouterr().err
    assert main(["finetune", "--data", tiny, "--out", str(tmp_path / "a"), "--lr", "0"]) == 2
    assert "lr = 0.0 is invalid" in capsys.readouterr().err
    assert main(["finetune", "--data", str(tmp_path / "missing.json"), "--out", str(tmp_path / "a")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_starts_from_the_base_model_whatever_the_default_adapter(tmp_path: Path) -> None:
    from rag.finetune.run import build_index

    run = FinetuneRun(data=(str(FIXTURES / "tiny_squad.json"),), out=str(tmp_path), index=str(tmp_path / "idx"))
    assert build_index(run, tmp_path, []).config.generator.adapter is None
    assert Pipeline(index=tmp_path / "idx").config.generator.adapter == "squad2-grounded"
