"""From the reader's start/end logits to one answer or the refusal: the no-answer rule.

Each window scores every span (start token i, end token j, i <= j < i + max_answer_tokens, both
inside its passage) as start[i] + end[j], and the no-answer as start[0] + end[0] at [CLS].

The rule (FARM's per-passage no-answer gap, SQuAD 2.0's rule from BERT's run_squad applied to
each window):
    gap(window) = best span score in the window - that window's no-answer score
The answer is the best span of the window with the largest gap, and the reader refuses when
that gap is below the threshold. A retrieved chunk that does not mention the subject has a high
null of its own, so it neither vetoes an answer found elsewhere nor supplies one. On the
held-back calibration questions this picked better spans than comparing the best span of all
windows with the lowest null of all windows (answer-all answerable F1 0.522 against 0.479);
softmax probabilities (Haystack 2) and the span score alone separated no better. The gap is
`Answer.margin` and the score users threshold (`answer.refusal_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class SpanChoice:
    """The best span of a question's windows and its evidence against no answer.

    Attributes:
        window: the row of the best span; start_token, end_token its tokens (inclusive).
        score: its start + end logit; null: its window's no-answer score.
        gap: score - null, the rule's statistic (-inf when no window holds a passage token).
    """

    window: int
    start_token: int
    end_token: int
    score: float
    null: float

    @property
    def gap(self) -> float:
        return self.score - self.null


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: np.ndarray,
              max_answer_tokens: int = MAX_ANSWER_TOKENS) -> SpanChoice:
    """The best valid span of the window with the largest gap (ties: the first window, then
    the earliest start), with that window's null score. Arrays: [windows, length] logits and the
    [windows, length, 2] offsets of `Windows` (-1 outside the passage)."""
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    nulls = start_logits[:, 0] + end_logits[:, 0]
    inside = offsets[:, :, 0] >= 0
    length = start_logits.shape[1]
    i, j = np.triu_indices(length)
    band = (j - i) < max_answer_tokens
    i, j = i[band], j[band]
    scores = start_logits[:, i] + end_logits[:, j]
    scores[~(inside[:, i] & inside[:, j])] = -np.inf
    pairs = np.argmax(scores, axis=1)
    best = scores[np.arange(len(scores)), pairs]
    window = int(np.argmax(best - nulls))
    pair = int(pairs[window])
    return SpanChoice(window, int(i[pair]), int(j[pair]), float(best[window]), float(nulls[window]))


def char_span(offsets: np.ndarray, choice: SpanChoice) -> tuple[int, int]:
    """The characters [start, end) of `choice` in its passage."""
    return int(offsets[choice.window, choice.start_token, 0]), int(offsets[choice.window, choice.end_token, 1])


def answers(gap: float, threshold: float | None) -> bool:
    """The rule: answer unless the span beats the no-answer by less than `threshold` (None:
    always answer the best span)."""
    return threshold is None or gap >= threshold
