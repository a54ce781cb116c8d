"""The reader as a hallucination detector for generated answers: does the reader's best span
over the same retrieved chunks agree with what the generator wrote, and how sure is it?

    reader_support = sigmoid(gap - threshold) * token F1(generated answer, reader's span)

where gap is the reader's no-answer gap and threshold its card's. A generated answer the reader
backs with a confident, overlapping span scores near 1; one the reader would refuse, or whose
words the reader's span does not share, scores near 0. The report's `reader_detector_auc` is
its ROC AUC against correctness, beside `detector_auc` of the groundedness score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rag.answer.match import f1_score


def reader_support(reader: Any, question: str, answer: str, passages: Sequence[str]) -> float | None:
    """The score above for one generated answer; None without passages."""
    if not passages or not answer.strip():
        return None
    reading = reader.read(question, list(passages))
    if reading.passage < 0:
        return 0.0
    threshold = float(reader.card.get("no_answer_threshold") or 0.0)
    confidence = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, reading.gap - threshold))))
    return confidence * f1_score(answer, [reading.text])
