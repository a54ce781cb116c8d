"""How good a confidence is: ROC AUC of right against wrong answers, expected calibration error
over 10 equal-width bins, a reliability plot, risk-coverage (accuracy of the most confident
fraction answered), and the threshold maximising SQuAD 2.0 F1."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(a right answer scores above a wrong one), ties half; None without both kinds."""
    pos = sorted(s for s, y in zip(scores, labels) if y)
    neg = sorted(s for s, y in zip(scores, labels) if not y)
    if not pos or not neg:
        return None
    from bisect import bisect_left, bisect_right

    wins = sum(bisect_left(neg, p) + 0.5 * (bisect_right(neg, p) - bisect_left(neg, p)) for p in pos)
    return wins / (len(pos) * len(neg))


def reliability(scores: Sequence[float], labels: Sequence[bool], bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean confidence, share right, count) of each non-empty bin of [0, 1]."""
    out = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(s, y) for s, y in zip(scores, labels) if low <= s < high or (b == bins - 1 and s == 1.0)]
        if members:
            out.append((sum(s for s, _ in members) / len(members), sum(y for _, y in members) / len(members),
                        len(members)))
    return out


def expected_calibration_error(scores: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Sum over bins of (share of answers in it) x |mean confidence - share right|."""
    n = len(scores)
    return sum(count / n * abs(conf - right) for conf, right, count in reliability(scores, labels, bins)) if n else 0.0


def risk_coverage(scores: Sequence[float], labels: Sequence[bool],
                  coverages: Sequence[float] = (0.5, 0.7, 0.9)) -> dict[str, float]:
    """Accuracy of the answers kept when only the most confident `coverage` share (rounded up) is answered."""
    ranked = [y for _, y in sorted(zip(scores, labels), key=lambda t: -t[0])]
    out = {}
    for c in coverages:
        kept = ranked[:_kept(c, len(ranked))] if ranked else []
        out[f"{round(c * 100)}%"] = round(sum(kept) / len(kept), 4) if kept else 0.0
    return out


def coverage_cuts(scores: Sequence[float], coverages: Sequence[float] = (0.5, 0.7, 0.9)) -> dict[str, float]:
    """The confidence of the last answer kept at each coverage of risk_coverage: the threshold
    (`--min-confidence`) that answers about that share."""
    ranked = sorted(scores, reverse=True)
    return {f"{round(c * 100)}%": round(ranked[_kept(c, len(ranked)) - 1], 4) for c in coverages} if ranked else {}


def _kept(coverage: float, n: int) -> int:
    """How many of n answers a coverage keeps: at least that share, at least one."""
    return max(1, math.ceil(round(coverage * n, 9)))


def plot_reliability(scores: Sequence[float], labels: Sequence[bool], path: Path, title: str) -> Path:
    """A reliability diagram (PNG): share right against mean confidence per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = reliability(scores, labels)
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label="answers")
    ax.set(xlabel="confidence", ylabel="share right (F1 >= 0.5)", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
