"""Metric functions: plain inputs, plain outputs, each checkable by hand."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.groundedness import normalize_answer  # shared with the chain's support check


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


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant hit, None if none is."""
    return next((i for i, r in enumerate(relevant, 1) if r), None)


def reciprocal_rank(relevant: Sequence[bool]) -> float:
    rank = first_relevant_rank(relevant)
    return 0.0 if rank is None else 1.0 / rank


def ndcg(relevant: Sequence[bool]) -> float:
    """Binary-relevance nDCG of a ranked list; the ideal puts its relevant hits first."""
    dcg = sum(1.0 / math.log2(i + 1) for i, r in enumerate(relevant, 1) if r)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, sum(relevant) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2.

    None when either class is missing (the AUC is undefined).
    """
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    if not positives or not negatives:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def mean(values: Iterable[float]) -> float | None:
    """Mean, or None for no values (reported as not applicable, never as 0)."""
    values = list(values)
    return sum(values) / len(values) if values else None
