"""Calibrated refusal: pick the refusal-margin threshold that maximises SQuAD 2.0 F1 on
questions from the training articles (never on the articles a figure is measured on).

The margin is log P(answer) - log P(refusal) under the model; an answer whose margin is below
the threshold is refused. As in the official SQuAD 2.0 scorer's best-threshold search, each
candidate cut is scored over all questions: an answerable one earns its F1 when answered, an
unanswerable one earns 1 when refused.
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


def fit_threshold(rows: Sequence[CalibrationRow]) -> tuple[float | None, float, float]:
    """(threshold, SQuAD 2.0 F1 with it, F1 without any cut) on these rows.

    Candidates cut between consecutive margins of answered rows (midpoints), plus one below all
    of them (no cut); ties go to the lower threshold, which refuses less.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("fit_threshold needs at least one calibration row")
    baseline = squad2_score(rows, None)
    margins = sorted({r.margin for r in rows if r.margin is not None and not r.refused})
    if not margins:
        return None, baseline, baseline
    candidates = [margins[0] - 1.0] + [(a + b) / 2 for a, b in zip(margins, margins[1:])] + [margins[-1] + 1.0]
    best, best_score = candidates[0], squad2_score(rows, candidates[0])
    for threshold in candidates[1:]:
        score = squad2_score(rows, threshold)
        if score > best_score + 1e-12:
            best, best_score = threshold, score
    return round(best, 4), best_score, baseline
