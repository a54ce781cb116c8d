"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from rag.answer.groundedness import LexicalEmbeddingScorer, claims, normalize_answer
from rag.eval.metrics import (
    contains_answer,
    exact_match,
    f1_score,
    ndcg,
    percentile,
    reciprocal_rank,
    roc_auc,
)


def test_squad_normalisation() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("An apple, a pear and THE plum.") == "apple pear and plum"


def test_exact_and_f1_best_over_golds() -> None:
    assert exact_match("the Normans", ["Normans", "Norman people"]) == 1.0
    assert exact_match("Normans of France", ["Normans"]) == 0.0
    # pred tokens {normans, of, france}, gold {normans}: P=1/3, R=1, F1=0.5
    assert f1_score("Normans of France", ["Normans"]) == pytest.approx(0.5)
    # best of two golds: "in France" vs "France" -> P=1/2... pred {france}: vs {in, france} P=1 R=1/2 -> 2/3
    assert f1_score("France", ["in France", "Paris"]) == pytest.approx(2 / 3)
    assert f1_score("nothing shared", ["Normans"]) == 0.0 and f1_score("x", []) == 0.0


def test_containment_is_on_normalised_word_boundaries() -> None:
    sentence = "The highest court is the European Court of Justice (ECJ)."
    assert contains_answer(sentence, ["The European Court of Justice"]) == 1.0
    assert contains_answer("It happened in 1990s.", ["1990"]) == 0.0  # not inside a word
    assert contains_answer("Angles of 90 degrees.", ["45", "90"]) == 1.0
    assert contains_answer("anything", ["", "the"]) == 0.0  # empty golds after normalisation
    assert contains_answer("", ["Paris"]) == 0.0


def test_rank_metrics() -> None:
    assert reciprocal_rank([False, False, True, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False, False]) == 0.0
    # relevant at 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg([False, True, True, False]) == pytest.approx(expected)
    assert ndcg([True, False]) == 1.0 and ndcg([False, False]) == 0.0


def test_percentiles_interpolate_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.0 + 0.8 * 6.0)  # position 3.8
    assert percentile([5.0], 95) == 5.0 and math.isnan(percentile([], 50))


def test_auc_counts_pairs_and_ties() -> None:
    assert roc_auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert roc_auc([0.1, 0.9], [True, False]) == 0.0
    # positives 0.5, 0.7; negatives 0.5, 0.2 -> pairs: (0.5,0.5)=.5, (0.5,0.2)=1, (0.7,*)=2 -> 3.5/4
    assert roc_auc([0.5, 0.7, 0.5, 0.2], [True, True, False, False]) == pytest.approx(0.875)
    assert roc_auc([0.3, 0.4], [True, True]) is None


def test_groundedness_is_the_weakest_claim() -> None:
    scorer = LexicalEmbeddingScorer(None)
    context = ["The Normans came from Normandy in northern France. They were Vikings."]
    assert scorer.score("The Normans came from Normandy [1].", context) == 1.0
    mixed = scorer.score("The Normans came from Normandy. They invented the telephone in Ohio.", context)
    assert mixed < 0.3
    assert scorer.score("Anything.", []) == 0.0
    assert claims("First claim [1]. Second one [2, 3].") == ["First claim .", "Second one ."]


def _row(answer: str, gold: list[str], groundedness: float, f1: float, sources: bool = True) -> dict:
    return {"answerable": True, "refused": False, "answer": answer, "gold": gold,
            "sources": [{"source": "a.md"}] if sources else [],
            "scores": {"relevant": [True], "rank": 1, "groundedness": groundedness, "f1": f1, "exact": 0.0},
            "timings": {"embed_query": 0.0, "retrieve": 0.0, "generate": 1.0, "total": 1.0,
                        "tokens_generated": 5, "time_to_first_token": 0.1, "prompt_tokens": 10}}


def test_detector_auc_counts_a_sentence_containing_the_gold_as_correct() -> None:
    from rag.eval.scoring import aggregate

    rows = [_row("It was the European Court of Justice.", ["European Court of Justice"], 0.9, 0.4),
            _row("Paris.", ["Paris"], 0.2, 1.0),
            _row("Some other court entirely.", ["European Court of Justice"], 0.5, 0.2)]
    report = aggregate(rows, 0.5, {})
    # correct: rows 0 (containment, F1 < 0.5) and 1 (F1); wrong: row 2. Pairs: 0.9 > 0.5, 0.2 < 0.5.
    assert report["hallucination"]["detector_auc"] == pytest.approx(0.5)
    assert report["answer"]["contains_gold"] == pytest.approx(2 / 3)
    closed_book = aggregate([_row(r["answer"], r["gold"], 0.0, r["scores"]["f1"], sources=False)
                             for r in rows], 0.5, {})
    assert closed_book["hallucination"]["detector_auc"] is None  # nothing retrieved to judge against


def test_squad2_scores_by_hand() -> None:
    from rag.eval.scoring import squad2_scores

    rows = [{"answerable": True, "refused": False, "scores": {"f1": 0.5, "exact": 0.0}},
            {"answerable": True, "refused": True, "scores": {"f1": 0.0, "exact": 0.0}},
            {"answerable": True, "refused": False, "scores": {"f1": 1.0, "exact": 1.0}},
            {"answerable": False, "refused": True, "scores": {}},
            {"answerable": False, "refused": False, "scores": {}},
            {"answerable": None, "refused": False, "scores": {}}]  # unknown: left out
    scores = squad2_scores(rows)
    assert scores["squad2_f1"] == pytest.approx((0.5 + 0 + 1 + 1 + 0) / 5)
    assert scores["squad2_exact"] == pytest.approx((0 + 0 + 1 + 1 + 0) / 5)
    assert scores["has_ans_f1"] == pytest.approx(0.5) and scores["no_ans_accuracy"] == pytest.approx(0.5)
    refuse_all = [{**r, "refused": True, "scores": {k: 0.0 for k in r["scores"]}} for r in rows[:5]]
    assert squad2_scores(refuse_all)["squad2_f1"] == pytest.approx(2 / 5)


def test_confidence_scores_by_hand() -> None:
    """A withdrawn answer is judged on its draft; an answer to an unanswerable question is wrong."""
    from rag.eval.scoring import confidence_scores

    rows = [{"scores": {"confidence": c, "right": y}} for c, y in
            ((0.9, True), (0.8, True), (0.6, False), (0.3, True), (0.2, False))]
    rows.append({"scores": {"f1": 1.0}})  # no confidence: left out
    scores = confidence_scores(rows)
    assert scores["n"] == 5
    assert scores["confidence_auc"] == pytest.approx(5 / 6)  # of 6 right-wrong pairs, only 0.3 < 0.6 is lost
    # bins: 0.2 (0 right), 0.3 (1), 0.6 (0), 0.8 (1), 0.9 (1): each 1/5 x |conf - right|
    assert scores["ece"] == pytest.approx((0.2 + 0.7 + 0.6 + 0.2 + 0.1) / 5)
    # 50 % of 5 keeps 3 (rounded up), 70 % keeps 4, 90 % keeps 5
    assert scores["risk_coverage"] == {"50%": pytest.approx(2 / 3, abs=1e-4), "70%": 0.75, "90%": 0.6}
    assert scores["coverage_cut"] == {"50%": 0.6, "70%": 0.3, "90%": 0.2}
    empty = confidence_scores([{"scores": {}}])
    assert empty["confidence_auc"] is None and empty["ece"] is None and empty["n"] == 0


def test_score_row_judges_a_withdrawn_answer_on_its_draft() -> None:
    from conftest import FIXTURES

    from rag.datasets import load_squad
    from rag.eval.scoring import score_row
    from rag.types import Answer

    items = load_squad(FIXTURES / "tiny_squad.json").items
    answerable = next(i for i in items if i.answerable)
    unanswerable = next(i for i in items if not i.answerable)
    gold = answerable.answers[0]
    withdrawn = Answer("I don't know.", True, reason="low_confidence", draft=gold, confidence=0.3)
    assert score_row(answerable, withdrawn, None)["right"] is True  # type: ignore[arg-type]
    assert score_row(answerable, Answer("nothing like it", False, confidence=0.9), _Scorer())["right"] is False
    assert score_row(unanswerable, Answer(gold, False, confidence=0.9), _Scorer())["right"] is False
    assert "confidence" not in score_row(answerable, Answer(gold, False), _Scorer())


class _Scorer:
    def score(self, answer: str, passages: object) -> float:
        return 1.0
