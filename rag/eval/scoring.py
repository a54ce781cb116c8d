"""Score one answered question, and aggregate rows into the report's metrics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from rag.answer.groundedness import GroundednessScorer
from rag.answer.verify.calibration import auc, coverage_cuts, expected_calibration_error, risk_coverage
from rag.datasets import EvalItem
from rag.documents import relative_path
from rag.eval.metrics import (
    contains_answer,
    exact_match,
    f1_score,
    first_relevant_rank,
    mean,
    ndcg,
    percentile,
    reciprocal_rank,
    roc_auc,
)
from rag.types import Answer

CORRECT_F1 = 0.5  # an answer with token F1 >= this, or containing a gold answer, counts as correct
STAGES = ("embed_query", "retrieve", "generate", "check_support", "total")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.strip()) > 30]


def _gold(source: str, item: EvalItem) -> bool:
    """Whether `source` (a document id, root/path) is a gold source (a path in the folder)."""
    return source in item.gold_sources or relative_path(source) in item.gold_sources


def is_relevant(item: EvalItem, source: str, page: int | None, text: str) -> bool:
    """A retrieved chunk counts when it comes from the gold paragraph (SQuAD) or the gold
    source (and page, when given), or when it contains a gold answer."""
    lowered = text.lower()
    if any(a.strip() and a.lower() in lowered for a in item.answers):
        return True
    if item.gold_context:
        return _gold(source, item) and any(s in item.gold_context for s in _sentences(text))
    if _gold(source, item):
        return item.gold_page is None or page == item.gold_page
    return False


def is_correct(row: dict[str, Any]) -> bool:
    """Gold correctness of an answered answerable row: it contains a gold answer or has F1 >= 0.5."""
    return (not row["refused"] and bool(row["gold"])
            and (row["scores"].get("f1", 0.0) >= CORRECT_F1 or bool(contains_answer(row["answer"], row["gold"]))))


def score_row(item: EvalItem, answer: Answer, scorer: GroundednessScorer) -> dict[str, Any]:
    """Per-question scores kept in answers.jsonl. `answer.support` must come from `scorer`."""
    relevant = [is_relevant(item, s.source, s.page, s.snippet) for s in answer.sources]
    answered = not answer.refused
    groundedness = None
    if answered:  # the chain's support check, when it ran with this scorer, already has the score
        groundedness = answer.support if answer.support is not None else scorer.score(
            answer.text, [s.snippet for s in answer.sources])
    scores: dict[str, Any] = {"relevant": relevant, "rank": first_relevant_rank(relevant),
                              "groundedness": groundedness}
    if item.answerable and item.answers:
        scores["exact"] = 0.0 if answer.refused else exact_match(answer.text, item.answers)
        scores["f1"] = 0.0 if answer.refused else f1_score(answer.text, item.answers)
        scores["contains_gold"] = 0.0 if answer.refused else contains_answer(answer.text, item.answers)
    if answer.confidence is not None:  # the verifier's: judged on its candidate, kept or withdrawn
        candidate = answer.text if answered else answer.draft
        scores["confidence"] = answer.confidence
        scores["right"] = bool(item.answerable and item.answers and candidate
                               and f1_score(candidate, item.answers) >= CORRECT_F1)
    return scores


def confidence_scores(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How well the verifier's confidence sorts right from wrong candidates (label: F1 >= 0.5
    against gold; any answer to an unanswerable question is wrong), over every question whose
    answer carried one, withdrawn or not: ROC AUC, ECE (10 bins) and risk-coverage (accuracy of
    the most confident 50/70/90 %, with the confidence cut that keeps them)."""
    judged = [r for r in rows if r["scores"].get("confidence") is not None]
    scores = [float(r["scores"]["confidence"]) for r in judged]
    labels = [bool(r["scores"]["right"]) for r in judged]
    return {"confidence_auc": auc(scores, labels), "ece": expected_calibration_error(scores, labels) if judged else None,
            "risk_coverage": risk_coverage(scores, labels) if judged else {}, "coverage_cut": coverage_cuts(scores), "n": len(judged)}


def squad2_scores(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The official SQuAD 2.0 scores over every question with a known answerability: an
    answerable one scores its F1 / exact match (0 when refused), an unanswerable one scores 1
    when refused and 0 otherwise. has_ans_f1 and no_ans_accuracy split them by kind."""
    known = [r for r in rows if r["answerable"] is not None and (r["answerable"] is False or "f1" in r["scores"])]
    answerable = [r for r in known if r["answerable"]]
    unanswerable = [r for r in known if not r["answerable"]]

    def official(metric: str) -> float | None:
        return mean(r["scores"][metric] if r["answerable"] else float(r["refused"]) for r in known)

    return {"squad2_f1": official("f1"), "squad2_exact": official("exact"),
            "has_ans_f1": mean(r["scores"]["f1"] for r in answerable),
            "no_ans_accuracy": mean(float(r["refused"]) for r in unanswerable)}


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "mean": None}
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": mean(values)}


def aggregate(rows: Sequence[dict[str, Any]], threshold: float, index: dict[str, Any],
              retrieval_only: bool = False) -> dict[str, Any]:
    """The report's metrics for one variant's rows (see the README for each definition).
    With `retrieval_only` nothing was generated: answer and hallucination metrics are None."""
    metrics = _aggregate(rows, threshold, index)
    if retrieval_only:
        for section in ("answer", "hallucination"):
            metrics[section] = {key: None if key != "groundedness_threshold" else value
                                for key, value in metrics[section].items()}
    return metrics


def _aggregate(rows: Sequence[dict[str, Any]], threshold: float, index: dict[str, Any]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"] is True]
    unanswerable = [r for r in rows if r["answerable"] is False]
    with_sources = [r for r in answerable if r["sources"]]
    answered = [r for r in rows if not r["refused"]]
    unsupported = [r for r in answered if (r["scores"]["groundedness"] or 0.0) < threshold]
    hallucinated = [r for r in answered if r["answerable"] is False
                    or (r["answerable"] is True and (r["scores"]["groundedness"] or 0.0) < threshold)]
    # The detector needs retrieved text to judge against: closed-book rows have none.
    judged = [r for r in answerable if not r["refused"] and "f1" in r["scores"] and r["sources"]]
    checked = [r for r in judged if r["scores"].get("reader_support") is not None]
    timings = [r["timings"] for r in rows]
    generated = [t for t in timings if t["generate"] > 0]
    engines = sorted({r.get("engine") or "" for r in rows} - {""})
    return {
        "n_questions": len(rows),
        "engine": ",".join(engines) or None,
        "retrieval": {
            "recall_at_k": mean(float(r["scores"]["rank"] is not None) for r in with_sources),
            "mrr": mean(reciprocal_rank(r["scores"]["relevant"]) for r in with_sources),
            "ndcg_at_k": mean(ndcg(r["scores"]["relevant"]) for r in with_sources),
            "n": len(with_sources)},
        "answer": {
            **squad2_scores(rows),
            "exact": mean(r["scores"]["exact"] for r in answerable if "exact" in r["scores"]),
            "f1": mean(r["scores"]["f1"] for r in answerable if "f1" in r["scores"]),
            "contains_gold": mean(float(contains_answer(r["answer"], r["gold"])) * (not r["refused"])
                                  for r in answerable if r["gold"]),
            "refusal_rate": mean(float(r["refused"]) for r in answerable),
            "n": len(answerable)},
        "hallucination": {
            "false_answer_rate": mean(float(not r["refused"]) for r in unanswerable),
            "unsupported_rate": len(unsupported) / len(answered) if answered else None,
            "hallucination_rate": len(hallucinated) / len(answered) if answered else None,
            "detector_auc": roc_auc([r["scores"]["groundedness"] or 0.0 for r in judged],
                                    [is_correct(r) for r in judged]),
            "reader_detector_auc": roc_auc([r["scores"].get("reader_support") or 0.0 for r in checked],
                                           [is_correct(r) for r in checked]) if checked else None,
            "groundedness_threshold": threshold,
            "n_unanswerable": len(unanswerable), "n_answered": len(answered)},
        "confidence": confidence_scores(rows),
        "latency": {
            **{stage: _stats([t.get(stage, 0.0) for t in timings]) for stage in STAGES},
            "time_to_first_token": _stats([t["time_to_first_token"] for t in generated
                                           if t["time_to_first_token"] is not None]),
            "tokens_per_s": (sum(t["tokens_generated"] for t in generated)
                             / sum(t["generate"] for t in generated)) if generated else None,
            "prompt_tokens": _stats([t["prompt_tokens"] for t in generated]),
            "index_build_seconds": index.get("seconds"), "index_chunks": index.get("chunks")},
    }
