"""The eval harness end to end on a tiny SQuAD fixture with fake models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from rag.datasets import load_jsonl, load_squad, sample
from rag.errors import InputError
from rag.eval.harness import EvalRun, Harness, parse_variant
from rag.fakes import ExtractiveGenerator, HashEmbedder

TINY = FIXTURES / "tiny_squad.json"


class FlakyGenerator(ExtractiveGenerator):
    """Dies on its n-th call, as an interrupted run would."""

    def __init__(self, fail_at: int | None) -> None:
        super().__init__()
        self.fail_at = fail_at

    def generate(self, messages, max_new_tokens):  # type: ignore[no-untyped-def]
        if self.fail_at is not None and self.calls + 1 == self.fail_at:
            raise KeyboardInterrupt("interrupted")
        return super().generate(messages, max_new_tokens)


def harness(out: Path, generator: ExtractiveGenerator | None = None, **run: object) -> Harness:
    settings = {"data": TINY, "out": out, "progress": False, "options": {"engine": "generator"}, **run}
    return Harness(EvalRun(**settings), embedder=HashEmbedder(),  # type: ignore[arg-type]
                   generator_factory=lambda config: generator or ExtractiveGenerator())


def test_squad_loader_keeps_golds_paragraphs_and_impossibility() -> None:
    dataset = load_squad(TINY)
    assert len(dataset.items) == 24 and len(dataset.articles) == 2
    impossible = [i for i in dataset.items if i.answerable is False]
    assert len(impossible) == 12 and all(i.answers == () for i in impossible)
    item = next(i for i in dataset.items if i.answerable)
    assert item.answers and item.gold_context and item.gold_sources[0] in ("Normans.md", "Packet_switching.md")


def test_sampling_is_deterministic_stratified_and_filterable() -> None:
    items = load_squad(TINY).items
    first, again = sample(items, 8, seed=3), sample(items, 8, seed=3)
    assert [i.id for i in first] == [i.id for i in again]
    assert sum(i.answerable is True for i in first) == 4
    assert [i.id for i in sample(items, 8, seed=4)] != [i.id for i in first]
    only = sample(items, None, articles=["Normans"])
    assert {i.article for i in only} == {"Normans"} and len(only) == 12
    assert {i.article for i in sample(items, None, exclude_articles=["Normans"])} == {"Packet_switching"}
    with pytest.raises(InputError, match="article 'Nope' is not in the dataset"):
        sample(items, 4, articles=["Nope"])


def test_jsonl_loader_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "Who?", "answers": ["Rollo"], "sources": ["Normans.md"]}\n\n'
                    '{"question": "When?", "answerable": false}\n{"question": "Why?"}\n')
    items = load_jsonl(path, tmp_path).items
    assert [(i.answerable, i.gold_sources) for i in items] == [(True, ("Normans.md",)), (False, ()), (None, ())]
    path.write_text('{"question": "Who?"}\n{"answers": ["x"]}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:2: expected"):
        load_jsonl(path, None)


def test_variant_names() -> None:
    assert parse_variant("default") == (False, {})
    assert parse_variant("closed-book") == (True, {})
    assert parse_variant("k=8+adapter=/a") == (False, {"k": "8", "adapter": "/a"})
    with pytest.raises(InputError, match="expected 'default', 'closed-book' or key=value"):
        parse_variant("turbo")


def test_end_to_end_writes_rows_reports_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = harness(out, limit=8, seed=1, variants=("closed-book", "default", "k=1")).execute()
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and {r["variant"] for r in rows} == {"closed-book", "default", "k=1"}
    assert {"question", "gold", "answer", "refused", "reason", "support", "draft", "sources", "scores",
            "timings"} <= set(rows[0])
    answered = [r for r in rows if r["variant"] == "default" and not r["refused"]]
    assert answered and all(r["support"] is not None for r in answered)  # the chain's support check ran
    assert all(r["scores"]["groundedness"] == r["support"] for r in answered)  # scored once, by one scorer
    for name in ("report.json", "report.md", "latency.png", "metrics.png", "groundedness.png", "docs/Normans.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["variants"].keys() == report["variants"].keys()
    default = report["variants"]["default"]
    assert set(default) == {"retrieval", "answer", "hallucination", "confidence", "latency", "n_questions", "engine"}
    assert default["confidence"]["n"] == 0 and default["confidence"]["confidence_auc"] is None  # no verifier here
    assert default["engine"] == "generator" and "| engine | generator |" in (out / "report.md").read_text()
    assert {"recall_at_k", "mrr", "ndcg_at_k"} <= set(default["retrieval"])
    assert {"exact", "f1", "contains_gold", "refusal_rate"} <= set(default["answer"])
    assert {"false_answer_rate", "unsupported_rate", "hallucination_rate", "detector_auc"} <= set(default["hallucination"])
    assert {"p50", "p95", "mean"} <= set(default["latency"]["generate"])
    assert {"p50", "p95", "mean"} <= set(default["latency"]["check_support"])
    assert default["latency"]["index_chunks"] > 0 and default["latency"]["index_build_seconds"] is not None
    # The extractive fake answers from its context and never from memory:
    assert default["answer"]["f1"] > report["variants"]["closed-book"]["answer"]["f1"] == 0.0
    assert report["variants"]["closed-book"]["retrieval"]["recall_at_k"] is None
    assert default["retrieval"]["recall_at_k"] >= report["variants"]["k=1"]["retrieval"]["recall_at_k"]
    assert "| answer.f1 |" in (out / "report.md").read_text()


def test_metrics_in_the_report_match_the_rows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = harness(out, limit=12, seed=2).execute()["variants"]["default"]
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    unanswerable = [r for r in rows if r["answerable"] is False]
    answerable = [r for r in rows if r["answerable"] is True]
    assert report["hallucination"]["false_answer_rate"] == pytest.approx(
        sum(not r["refused"] for r in unanswerable) / len(unanswerable))
    assert report["answer"]["f1"] == pytest.approx(sum(r["scores"]["f1"] for r in answerable) / len(answerable))
    assert report["retrieval"]["recall_at_k"] == pytest.approx(
        sum(r["scores"]["rank"] is not None for r in answerable) / len(answerable))
    assert report["answer"]["squad2_f1"] == pytest.approx(
        (sum(r["scores"]["f1"] for r in answerable) + sum(r["refused"] for r in unanswerable)) / len(rows))
    assert report["answer"]["no_ans_accuracy"] == pytest.approx(1 - report["hallucination"]["false_answer_rate"])


def test_an_interrupted_run_resumes_without_asking_again(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        harness(out, FlakyGenerator(fail_at=5), limit=8, seed=1).execute()
    assert len((out / "answers.jsonl").read_text().splitlines()) == 4
    with (out / "answers.jsonl").open("a") as handle:
        handle.write('{"variant": "default", "id": "torn')  # a write cut short
    resumed = FlakyGenerator(fail_at=None)
    report = harness(out, resumed, limit=8, seed=1).execute()
    assert resumed.calls <= 4  # only the questions not yet answered
    assert report["variants"]["default"]["n_questions"] == 8
    ids = [json.loads(line)["id"] for line in (out / "answers.jsonl").read_text().splitlines()
           if line.startswith('{"variant": "default", "id": "') and line.endswith("}")]
    assert len(set(ids)) == 8


def test_without_a_terminal_progress_goes_to_stderr_as_lines(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    harness(tmp_path / "out", limit=10, seed=0, progress_lines=True).execute()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("default: ")]
    assert lines[-1].startswith("default: 10/10 f1=")
    assert "false_ans=" in lines[-1]
    assert len(lines) == 10  # one per tenth; ten questions


def test_retrieval_only_variants_score_routes_without_generating(tmp_path: Path) -> None:
    def no_generator(config: object) -> ExtractiveGenerator:
        raise AssertionError("retrieval-only runs must not load a generator")

    run = EvalRun(data=TINY, out=tmp_path / "out", progress=False, retrieval_only=True, options={"engine": "generator"},
                  variants=("retrieval.mode=dense+k=2", "retrieval.mode=lexical+k=2", "retrieval=hybrid+k=4"))
    report = Harness(run, embedder=HashEmbedder(), generator_factory=no_generator).execute()
    for name, metrics in report["variants"].items():
        assert 0.0 < metrics["retrieval"]["recall_at_k"] <= 1.0, name
        assert metrics["answer"]["f1"] is None and metrics["hallucination"]["false_answer_rate"] is None
        assert metrics["latency"]["generate"]["p50"] == 0.0
    rows = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert {len(r["sources"]) for r in rows if r["variant"] == "retrieval.mode=dense+k=2"} == {2}
    assert report["run"]["retrieval_only"] is True
    assert "| retrieval.recall_at_k |" in (tmp_path / "out" / "report.md").read_text()


def test_variants_share_a_generator_only_when_it_would_load_alike(tmp_path: Path) -> None:
    loaded: list[tuple[str, bool]] = []

    def factory(config):  # type: ignore[no-untyped-def]
        loaded.append((config.generator.backend, config.generator.prefix_cache))
        return ExtractiveGenerator()

    variants = ("default", "generator.max_new_tokens=16", "generator.backend=torch",
                "generator.prefix_cache=false", "k=2")
    run = EvalRun(data=TINY, out=tmp_path, progress=False, limit=4, variants=variants,  # type: ignore[arg-type]
                  options={"engine": "generator"})
    Harness(run, embedder=HashEmbedder(), generator_factory=factory).execute()
    assert sorted(loaded) == [("onnx", False), ("onnx", True), ("torch", True)]
