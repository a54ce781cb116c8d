"""The verifier for generated answers: the reader reads the same chunks and is the check. Its
features are the reader's (rag.answer.verify.features) taken at the generated text (where it lies
verbatim in a chunk, else where the reader's own span lies), plus how far the generated text and
the reader's span agree (`reader_f1`) and whether the text is a verbatim copy (`verbatim`).

Their weights live in the reader's card as "generator_verifier", fitted by
`rag train-reader --calibrate generator` on generated answers to held-back questions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from rag.answer.match import f1_score
from rag.answer.spans import locate
from rag.answer.verify.features import Reading, verification_features
from rag.types import Hit


def generated_features(question: str, text: str, hits: Sequence[Hit], read: Any) -> dict[str, float]:
    """The features of the generated `text` against `hits`, given the reader's reading `read`
    of the same chunks (its passage, start, end, text and gap)."""
    found = locate(text, [h.chunk.text for h in hits]) if text.strip() else None
    answered = read.passage >= 0
    if found is not None:
        passage, start, end = found
    elif answered:
        passage, start, end = read.passage, read.start, read.end
    else:
        passage, start, end = -1, 0, 0
    gap = float(read.gap) if answered and math.isfinite(read.gap) else float("-inf")
    features = verification_features(Reading(question, text, passage, start, end, gap), hits)
    return {**features, "reader_f1": f1_score(text, [read.text]) if answered else 0.0,
            "verbatim": float(found is not None)}


class GeneratedCheck:
    """Confidence in generated answers: the reader (or a function loading it, called on first
    use) reads the chunks, its card's generator verifier scores the features above."""

    def __init__(self, reader: Any | Callable[[], Any]) -> None:
        self._reader = reader

    @property
    def reader(self) -> Any:
        if not hasattr(self._reader, "read"):
            self._reader = self._reader()
        return self._reader

    def __call__(self, question: str, text: str, hits: Sequence[Hit]) -> float | None:
        """P(the generated `text` is right); None without hits or a generator verifier."""
        verifier = self.reader.generated_verifier
        if verifier is None or not hits or not text.strip():
            return None
        read = self.reader.read(question, [h.chunk.text for h in hits])
        return round(verifier.confidence(generated_features(question, text, hits, read)), 4)
