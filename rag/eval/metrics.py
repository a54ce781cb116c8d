"""Metric functions: plain inputs, plain outputs, each checkable by hand."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from rag.answer.match import contains_answer, exact_match, f1_score  # noqa: F401 - shared with fine-tuning


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

    None when either class is missing (the AUC is undefined). The verifier's own count
    (sorted, not pairwise), so eval and calibration report one AUC.
    """
    from rag.answer.verify.calibration import auc

    return auc(scores, labels)


def mean(values: Iterable[float]) -> float | None:
    """Mean, or None for no values (reported as not applicable, never as 0)."""
    values = list(values)
    return sum(values) / len(values) if values else None
