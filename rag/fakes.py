"""Deterministic fakes of the Embedder and Generator protocols, for unit tests and examples.

They need no model weights and run in microseconds, yet behave sensibly: texts that share words
embed close together, and the generator answers with the context sentence nearest the question.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from rag.generator import Generation, Messages
from rag.generator.base import Decoding, StreamReport


class HashEmbedder:
    """Deterministic fake for tests: a bag of hashed words, normalized.

    Texts sharing words get similar vectors, so retrieval tests behave sensibly.
    Tokens are whitespace words plus two special tokens.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 256, name: str = "hash-embedder") -> None:
        self.name = name
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.calls: list[int] = []  # how many texts each embed_documents call received

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        for word in text.lower().split():
            digest = hashlib.sha256(word.strip(".,;:!?\"'()").encode()).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class ExtractiveGenerator:
    """Deterministic fake for tests: answers with the sentence of the context that shares most
    words with the question and cites its block; refuses when nothing overlaps enough.
    Tokens are whitespace words. Its log-probabilities make the refusal margin grow with the
    overlap (margin = 1 - 2 / overlap words); in extractive mode it answers with the sentence
    alone and reports its span."""

    def __init__(self, refusal: str = "I don't know.", context_window: int = 2048,
                 min_overlap: int = 2) -> None:
        self.name = "extractive-fake"
        self.context_window = context_window
        self.refusal = refusal
        self.min_overlap = min_overlap
        self.calls = 0

    def count_prompt_tokens(self, messages: Messages) -> int:
        return sum(len(m["content"].split()) for m in messages) + 4

    def _best(self, messages: Messages) -> tuple[int, str, int]:
        """(block number, sentence, overlap) of the sentence sharing most question words."""
        content = messages[-1]["content"]
        question = content.rsplit("Question:", 1)[-1]
        wanted = {w for w in re.findall(r"[a-z0-9]+", question.lower()) if len(w) > 3}
        best = (0, "", 0)
        for number, body in re.findall(r'<doc id="(\d+)"[^>]*>\n(.*?)\n</doc>', content, re.S):
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                score = len(wanted & set(re.findall(r"[a-z0-9]+", sentence.lower())))
                if score > best[2]:
                    best = (int(number), sentence.strip(), score)
        return best

    def _answer(self, messages: Messages) -> str:
        number, sentence, score = self._best(messages)
        return f"{sentence} [{number}]" if score >= self.min_overlap else self.refusal

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        text = " ".join(self._answer(messages).split()[:max_new_tokens])
        self.calls += 1
        return Generation(text, len(text.split()), 0.0, self.count_prompt_tokens(messages))

    def stream(self, messages: Messages, max_new_tokens: int, report: StreamReport | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        report = StreamReport() if report is None else report
        result = self.generate(messages, max_new_tokens)
        number, sentence, score = self._best(messages)
        text = result.text
        report.tokens, report.prompt_tokens = result.tokens, result.prompt_tokens
        if decoding is not None and decoding.refusal is not None:
            report.answer_logprob, report.refusal_logprob = -2.0 / max(score, 1), -1.0
        if decoding is not None and decoding.spans and score >= self.min_overlap:
            text = sentence
            at = decoding.spans[number - 1].find(sentence)
            report.span = (number - 1, at, at + len(sentence))
        words = text.split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word


class OverlapReader:
    """Deterministic fake of the extractive reader (rag.answer.reader.SpanReader) for unit
    tests: the best span is the passage sentence sharing most words (over 3 letters) with the
    question; its gap is overlap - 2, so a threshold of 0 refuses under two shared words."""

    def __init__(self, threshold: float | None = 0.0) -> None:
        self.card = {"no_answer_threshold": threshold}
        self.verifier: Any = None  # no answer verifier: the chain keeps the gap rule
        self.calls = 0

    def read(self, question: str, passages: Sequence[str]) -> Any:
        from rag.answer.reader.reader import Reading

        self.calls += 1
        wanted = {w for w in re.findall(r"[a-z0-9]+", question.lower()) if len(w) > 3}
        best = (-1, 0, 0, -1)  # passage, start, end, overlap
        for index, text in enumerate(passages):
            for match in re.finditer(r"[^.!?]+[.!?]?", text):
                score = len(wanted & set(re.findall(r"[a-z0-9]+", match.group().lower())))
                if score > best[3]:
                    best = (index, match.start(), match.end(), score)
        index, start, end, score = best
        if index < 0:
            return Reading(-1, 0, 0, "", float("-inf"), 0.0, float("-inf"), 0, 0, 0.0)
        return Reading(index, start, end, passages[index][start:end], float(score), 2.0, float(score) - 2.0,
                       len(passages), sum(len(p.split()) for p in passages), 0.0)
