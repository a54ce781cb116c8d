"""Matching an answer against gold answers (SQuAD normalisation): shared by the evaluation
metrics and by fine-tuning's threshold calibration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rag.answer.groundedness import normalize_answer


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when a normalised gold answer appears, on word boundaries, in the normalised prediction.

    Generated answers are sentences ("The highest court is the European Court of Justice."),
    which SQuAD's exact match and F1 punish for their length; containment does not.
    """
    padded = f" {normalize_answer(prediction)} "
    return float(any(gold and f" {gold} " in padded for gold in map(normalize_answer, golds)))


def _f1(prediction: str, gold: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Token F1 after SQuAD normalisation, best over the gold answers (0 with no golds)."""
    return max((_f1(prediction, g) for g in golds), default=0.0)
