"""What a reader is shown of an answer's sources: each chunk's whole text with one stretch to
highlight. That stretch is the answer itself where it lies verbatim in the chunk (the answer's
span: exact offsets, always so in extractive mode), else the chunk's sentence sharing the most
content words with the answer. A refusal highlights nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rag.answer.groundedness import content_words
from rag.answer.spans import sentence_bounds
from rag.types import Answer, Chunk


@dataclass(frozen=True)
class Passage:
    """One source's text and the stretch [start, end) to highlight in it.

    Attributes:
        chunk_id: the source chunk's id.
        text: the chunk's whole text (the snippet when the chunk is gone from the index).
        start, end: character offsets of the highlight, None when nothing is highlighted.
        exact: True when the highlight is the answer verbatim, False for a best-matching sentence.
    """

    chunk_id: str
    text: str
    start: int | None = None
    end: int | None = None
    exact: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"chunk_id": self.chunk_id, "text": self.text, "start": self.start, "end": self.end,
                "exact": self.exact}


def best_sentence(text: str, answer: str) -> tuple[int, int] | None:
    """(start, end) of the sentence of `text` sharing the most content words with `answer`
    (the first of equals), or None when none shares any."""
    wanted = content_words(answer)
    best, best_shared = None, 0
    for start, end in sentence_bounds(text):
        shared = len(wanted & content_words(text[start:end]))
        if shared > best_shared:
            best, best_shared = (start, end), shared
    return best


def passages(answer: Answer, chunks: Mapping[str, Chunk]) -> list[Passage]:
    """The passage of each of `answer.sources`, in order.

    Args:
        answer: an Answer from the chain.
        chunks: the sources' chunks by id (a missing one falls back to its snippet).
    """
    shown = []
    for block, source in enumerate(answer.sources, 1):
        chunk = chunks.get(source.chunk_id)
        text = chunk.text if chunk is not None else source.snippet
        span = answer.span
        if span is not None and span.block == block and span.end <= len(text):
            shown.append(Passage(source.chunk_id, text, span.start, span.end, True))
            continue
        found = None if answer.refused else best_sentence(text, answer.text)
        shown.append(Passage(source.chunk_id, text, *(found or (None, None))))
    return shown
