"""Locating an answer verbatim in the texts it was drawn from, and the sentence around it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.types import Span

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_CITATION = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def sentence_around(text: str, start: int, end: int) -> tuple[str, int]:
    """The sentence of `text` holding [start, end) and the offset of `start` in it.
    A span crossing sentence ends gets all the sentences it touches."""
    left = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    after = _SENTENCE_END.search(text, max(end, start + 1) - 1 if end > start else end)
    right = after.end() if after else len(text)
    right = max(right, end)
    while left < start and text[left].isspace():
        left += 1
    return text[left:right].rstrip(), start - left


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) with white space at either end moved out."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, surrounding white space left out."""
    bounds, left = [], 0
    for stop in [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text)]:
        start, end = _trimmed(text, left, stop)
        if end > start:
            bounds.append((start, end))
        left = stop
    return bounds


def make_span(block: int, chunk_id: str, text: str, start: int, end: int) -> Span:
    """A Span for text[start:end], with surrounding white space moved out of the offsets."""
    start, end = _trimmed(text, start, end)
    sentence, offset = sentence_around(text, start, end)
    return Span(block, chunk_id, start, end, sentence, offset)


def locate(answer: str, texts: Sequence[str]) -> tuple[int, int, int] | None:
    """(index, start, end) of the first text holding `answer` verbatim (case-insensitively as a
    fallback), citation marks such as [1] aside, or None. Answers under two characters are not
    located."""
    needle = _CITATION.sub("", answer).strip()
    if len(needle) < 2:
        return None
    for fold in (False, True):
        for index, text in enumerate(texts):
            at = (text.lower() if fold else text).find(needle.lower() if fold else needle)
            if at >= 0:
                return index, at, at + len(needle)
    return None
