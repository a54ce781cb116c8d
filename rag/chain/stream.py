"""An answer as it streams: its text pieces, then its Answer."""

from __future__ import annotations

from collections.abc import Generator as PyGenerator
from collections.abc import Iterator

from rag.types import Answer


class AnswerStream:
    """Iterate for the answer's text pieces; `.answer` holds the Answer once exhausted."""

    def __init__(self, pieces: PyGenerator[str, None, Answer]) -> None:
        self._pieces = pieces
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        self.answer = yield from self._pieces

    def drain(self) -> Answer:
        """Run the stream to its end without showing its pieces; its Answer."""
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


def drain(pieces: PyGenerator[str, None, Answer]) -> Answer:
    """Run a draft to its end without showing its pieces; its Answer."""
    return AnswerStream(pieces).drain()
