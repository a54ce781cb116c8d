"""The reader engine: the extractive reader (rag.answer.reader) reads all hits in one pass and
answers with its best verbatim span, whose `margin` is the no-answer gap (best span score -
lowest no-answer score); the chain refuses when it is below the threshold (the reader card's,
fitted on held-back questions, unless `answer.refusal_threshold` says otherwise). A reader whose
card holds a verifier (rag.answer.verify) also gives each span a confidence, and the chain then
refuses by that instead."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator as PyGenerator
from typing import Any

from rag.answer.base import Draft
from rag.answer.spans import make_span
from rag.answer.verify import Reading, verification_features
from rag.types import Hit


class ReaderAnswerer:
    """Answers with a SpanReader (loaded on first use when given as a function).

    Args:
        reader: a rag.answer.reader.SpanReader, or a function returning one.
        refusal: the sentence answered when nothing is found.
    """

    engine = "reader"
    withdraw_reason = "no_answer"

    def __init__(self, reader: Any | Callable[[], Any], refusal: str) -> None:
        self._reader = reader
        self.refusal = refusal

    @property
    def loaded(self) -> bool:
        return hasattr(self._reader, "read")

    @property
    def reader(self) -> Any:
        if not self.loaded:
            self._reader = self._reader()
        return self._reader

    def load(self) -> None:
        self.reader  # noqa: B018 - the property loads it

    def lanes(self) -> int:
        return 1

    def draft(self, question: str, hits: tuple[Hit, ...]) -> PyGenerator[str, None, Draft]:
        """The best span of `hits` (nothing is streamed: the answer comes whole)."""
        yield from ()
        reading = self.reader.read(question, [h.chunk.text for h in hits])
        if reading.passage < 0:  # no chunk held a single token to read
            return Draft(self.refusal, True, hits, reason="no_answer", seconds=reading.seconds,
                         input_tokens=reading.tokens)
        hit = hits[reading.passage]
        span = make_span(reading.passage + 1, hit.chunk.id, hit.chunk.text, reading.start, reading.end)
        text = hit.chunk.text[span.start:span.end]
        confidence = None
        if self.reader.verifier is not None:
            found = Reading(question, text, reading.passage, span.start, span.end, reading.gap)
            confidence = round(self.reader.verifier.confidence(verification_features(found, hits)), 4)
        return Draft(text, False, hits, span, reading.gap, (span.block,), seconds=reading.seconds,
                     input_tokens=reading.tokens, verbatim=True, confidence=confidence)
