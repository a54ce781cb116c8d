"""Features of one reading, from what the chain already holds (no second pass of the encoder):
the reader's gap, where retrieval ranked and scored the span's chunk, whether other chunks hold
the same text, how much of the question the span's sentence shares, and whether the span's shape
fits the question (who -> a name, when -> a date, how many -> a number).

Each feature is a float; FEATURES is their order in a verifier's weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.groundedness import content_words, normalize_answer
from rag.answer.spans import sentence_around
from rag.types import Hit

FEATURES = ("gap", "chunk_rank", "chunk_score", "below_top", "agreement", "question_overlap", "type_fit",
            "span_words", "echoes_question")
GENERATED_FEATURES = (*FEATURES, "reader_f1", "verbatim")  # a generated answer's (rag.answer.verify.generated)
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})s?\b")
_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|"
                     r"billion|dozen|several)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Reading:
    """One answer to verify: its text, the chunk it came from (an index into `hits`; -1 when
    it is in none), its offsets there, and the reader's no-answer gap."""

    question: str
    text: str
    passage: int
    start: int
    end: int
    gap: float


def expected_type(question: str) -> str:
    """"number", "date", "name" or "" (no expectation) from the question's wh-phrase."""
    q = question.lower()
    if re.search(r"\bhow (many|much|long|far|old|large|big|tall|high)\b|\bwhat (percentage|number)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (year|date|century|decade|month)\b|\bwhich (year|century)\b", q):
        return "date"
    if re.search(r"\bwho(m|se)?\b|\bwhere\b", q):
        return "name"
    return ""


def type_fit(question: str, span: str) -> float:
    """1 when the span has the shape the question asks for, 0 when it lacks it, 0.5 when the
    question asks for no particular shape."""
    wanted = expected_type(question)
    if not wanted:
        return 0.5
    if wanted == "number":
        return float(bool(_NUMBER.search(span)))
    if wanted == "date":
        return float(bool(_YEAR.search(span) or _MONTH.search(span) or re.search(r"\bcentury\b", span, re.I)))
    return float(any(w[:1].isupper() for w in span.split()))


def verification_features(reading: Reading, hits: Sequence[Hit]) -> dict[str, float]:
    """The features of `reading` against the chunks it was read from."""
    scores = [h.score for h in hits]
    inside = 0 <= reading.passage < len(hits)
    chunk = hits[reading.passage].chunk.text if inside else ""
    sentence = sentence_around(chunk, reading.start, reading.end)[0] if inside else reading.text
    answer = normalize_answer(reading.text)
    others = [h for n, h in enumerate(hits) if n != reading.passage]
    agree = sum(bool(answer) and answer in normalize_answer(h.chunk.text) for h in others)
    asked = content_words(reading.question)
    said = content_words(reading.text)
    return {
        "gap": float(reading.gap) if math.isfinite(reading.gap) else -20.0,
        "chunk_rank": 1.0 / (1 + reading.passage) if inside else 0.0,
        "chunk_score": float(scores[reading.passage]) if inside else 0.0,
        "below_top": float(max(scores) - scores[reading.passage]) if inside else 1.0,
        "agreement": agree / max(1, len(others)),
        "question_overlap": len(asked & content_words(sentence)) / max(1, len(asked)),
        "type_fit": type_fit(reading.question, reading.text),
        "span_words": math.log1p(len(reading.text.split())),
        "echoes_question": len(said & asked) / max(1, len(said)),
    }
