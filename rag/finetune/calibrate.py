"""Calibrated refusal: pick the refusal-margin threshold that maximises SQuAD 2.0 F1 on
questions from the training articles (never on the articles a figure is measured on).

The margin is log P(answer) - log P(refusal) under the model; an answer whose margin is below
the threshold is refused. As in the official SQuAD 2.0 scorer's best-threshold search, each
candidate cut is scored over all questions: an answerable one earns its F1 when answered, an
unanswerable one earns 1 when refused. A cap on the share of answerable questions refused keeps
the search from its degenerate optimum: with a weak model, refusing everything scores best
(0.5 on a balanced set) and is useless to a user. With no threshold under the cap, none is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CalibrationRow:
    """One calibration question as the chain answered it (with the threshold off).

    Attributes:
        margin: the answer's refusal margin; None when the backend gave none.
        answerable: the gold says it has an answer.
        refused: the model refused on its own (or a gate did).
        f1: the answer's F1 against the golds (0 for unanswerable or refused).
    """

    margin: float | None
    answerable: bool
    refused: bool
    f1: float


def squad2_score(rows: Sequence[CalibrationRow], threshold: float | None) -> float:
    """Mean SQuAD 2.0 F1 when answers with margin < threshold are refused (None: no cut)."""
    if not rows:
        return 0.0
    total = 0.0
    for row in rows:
        cut = threshold is not None and row.margin is not None and row.margin < threshold
        refused = row.refused or cut
        total += (0.0 if refused else row.f1) if row.answerable else float(refused)
    return total / len(rows)


def answerable_refusal_rate(rows: Sequence[CalibrationRow], threshold: float | None) -> float:
    """Share of answerable rows refused, by the model or by the cut."""
    answerable = [r for r in rows if r.answerable]
    cut = [r.refused or (threshold is not None and r.margin is not None and r.margin < threshold)
           for r in answerable]
    return sum(cut) / len(cut) if cut else 0.0


def fit_threshold(rows: Sequence[CalibrationRow], max_refusal: float = 1.0) -> tuple[float | None, float, float]:
    """(threshold, SQuAD 2.0 F1 with it, F1 without any cut) on these rows.

    Candidates cut between consecutive margins of answered rows (midpoints), plus one below all
    of them (no cut); ties go to the lower threshold, which refuses less. Candidates refusing
    more than `max_refusal` of the answerable rows are not considered; when even no cut exceeds
    it, or no cut is best, the threshold is None.

    Raises:
        ValueError: no rows, or max_refusal outside [0, 1].
    """
    if not rows:
        raise ValueError("fit_threshold needs at least one calibration row")
    if not 0.0 <= max_refusal <= 1.0:
        raise ValueError(f"max_refusal ({max_refusal}) must be between 0 and 1")
    baseline = squad2_score(rows, None)
    margins = sorted({r.margin for r in rows if r.margin is not None and not r.refused})
    candidates = [(a + b) / 2 for a, b in zip(margins, margins[1:])] + ([margins[-1] + 1.0] if margins else [])
    best: float | None = None
    best_score = baseline
    for threshold in candidates:
        score = squad2_score(rows, threshold)
        if score > best_score + 1e-12 and answerable_refusal_rate(rows, threshold) <= max_refusal:
            best, best_score = threshold, score
    return (round(best, 4) if best is not None else None), best_score, baseline
