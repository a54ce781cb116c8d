"""From the reader's start/end logits to one answer or the refusal: the no-answer rule.

Each window scores every span (start token i, end token j, i <= j < i + max_answer_tokens, both
inside its passage) as start[i] + end[j], and the no-answer as start[0] + end[0] at [CLS].

The rule (the SQuAD 2.0 one of BERT's and Hugging Face's run_qa, extended across passages):
    gap = best span score over all windows - lowest no-answer score over all windows
and the reader refuses when gap < threshold. The lowest null is the window that most believes
it holds an answer, so a retrieved chunk that does not mention the subject (a high null) can
neither veto an answer found elsewhere nor supply one. Logits are compared across windows
unnormalised, as run_qa does; softmax products (Haystack 2) make spans of long windows look
less likely only because the window is long. The gap is `Answer.margin` and the score users
threshold (`answer.refusal_threshold`); the reader's card holds the threshold fitted on
held-back questions.
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
        score: its start + end logit; null: the lowest no-answer score of all windows.
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
    """The highest-scoring valid span over all windows (ties: the first window, then the
    earliest start), with the lowest null score. Arrays: [windows, length] logits and the
    [windows, length, 2] offsets of `Windows` (-1 outside the passage)."""
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    null = float((start_logits[:, 0] + end_logits[:, 0]).min())
    inside = offsets[:, :, 0] >= 0
    length = start_logits.shape[1]
    i, j = np.triu_indices(length)
    band = (j - i) < max_answer_tokens
    i, j = i[band], j[band]
    scores = start_logits[:, i] + end_logits[:, j]
    scores[~(inside[:, i] & inside[:, j])] = -np.inf
    flat = int(np.argmax(scores))
    window, pair = divmod(flat, scores.shape[1])
    best = float(scores[window, pair])
    return SpanChoice(window, int(i[pair]), int(j[pair]), best, null)


def char_span(offsets: np.ndarray, choice: SpanChoice) -> tuple[int, int]:
    """The characters [start, end) of `choice` in its passage."""
    return int(offsets[choice.window, choice.start_token, 0]), int(offsets[choice.window, choice.end_token, 1])


def answers(gap: float, threshold: float | None) -> bool:
    """The rule: answer unless the span beats the no-answer by less than `threshold` (None:
    always answer the best span)."""
    return threshold is None or gap >= threshold
