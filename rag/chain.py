"""The query chain: question -> vector -> hits -> prompt -> answer, with refusal gates before
generation (empty index, min_score) and two checks after it: the model's own refusal margin
against a calibrated threshold (refusal_threshold), then groundedness (min_support).

`ask` and `stream` run the same generator function, so their Answer is the same by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass
from typing import Any

from rag.errors import InputError
from rag.generator import Generator
from rag.generator.base import Decoding
from rag.groundedness import GroundednessScorer
from rag.prompt import Prompt, build_prompt, cited_blocks, is_refusal, load_template
from rag.retriever import Retriever
from rag.spans import locate, make_span
from rag.types import Answer, Hit, Source, Span, Timings

EMPTY_INDEX = "The index is empty: ingest documents first (rag ingest DIR)."
WITHDRAWN = {"refusal_threshold": "the model prefers not answering over this answer.",
             "unsupported": "the documents do not support this answer."}
PROMPT_MARGIN_TOKENS = 8


@dataclass(frozen=True)
class ChainSettings:
    """What the chain needs from the configuration (plain values only)."""

    k: int = 4
    min_score: float | None = None
    max_new_tokens: int = 128
    template: str | None = None
    refusal: str = "I don't know."
    snippet_chars: int = 200
    closed_book: bool = False
    min_support: float | None = None  # withdraw answers less grounded than this (needs a scorer)
    mode: str = "free"  # or "extractive": only a verbatim span of one chunk, or the refusal
    refusal_threshold: float | None = None  # refuse when log P(answer) - log P(refusal) is below


class AnswerStream:
    """Iterate for the answer's text pieces; `.answer` holds the Answer once exhausted."""

    def __init__(self, pieces: PyGenerator[str, None, Answer]) -> None:
        self._pieces = pieces
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        self.answer = yield from self._pieces


class RagChain:
    """Retrieve, gate, prompt, generate, read back, check support.

    Args:
        retriever: question -> hits (unused when closed_book).
        generator: a Generator, or a function returning one (loaded only when needed).
        settings: ChainSettings.
        support: scores an answer against its chunks; with `settings.min_support` set, an answer
            scoring below is withdrawn. Streaming callers have seen the draft by then: the stream
            ends with a piece saying it was withdrawn, and `.answer` is the refusal.
    """

    def __init__(self, retriever: Retriever | None, generator: Generator | Callable[[], Generator],
                 settings: ChainSettings, support: GroundednessScorer | None = None) -> None:
        self.retriever = retriever
        self._generator = generator
        self.settings = settings
        self.support = support
        self.template = load_template(settings.template, settings.closed_book)

    @property
    def generator(self) -> Generator:
        if callable(self._generator) and not hasattr(self._generator, "generate"):
            self._generator = self._generator()
        return self._generator  # type: ignore[return-value]

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Answer one question. Raises InputError for an empty or over-long question."""
        stream = self.stream(question, k)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def stream(self, question: str, k: int | None = None) -> AnswerStream:
        """Like `ask`, yielding text as it is generated; the Answer is on `.answer` afterwards."""
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string; got {question!r}")
        if k is not None and k < 1:
            raise InputError(f"k must be >= 1; got {k}")
        return AnswerStream(self._run(question.strip(), k or self.settings.k))

    def _sources(self, hits: tuple[Hit, ...]) -> tuple[Source, ...]:
        n = self.settings.snippet_chars
        return tuple(Source(h.chunk.source, h.chunk.page, h.chunk.id, h.score,
                            h.chunk.text[:n] + ("…" if len(h.chunk.text) > n else "")) for h in hits)

    def _run(self, question: str, k: int) -> PyGenerator[str, None, Answer]:
        started = time.perf_counter()
        s = self.settings
        # 1. Retrieve (closed-book skips it).
        hits: tuple[Hit, ...] = ()
        embed_s = search_s = 0.0
        if not s.closed_book and self.retriever is not None:
            found = self.retriever.retrieve(question, k)
            hits, embed_s, search_s = found.hits, found.embed_seconds, found.search_seconds
        # 2. Gates that refuse without generating.
        reason = ""
        if not s.closed_book and not hits:
            reason, text = "empty index", EMPTY_INDEX
        elif s.min_score is not None and hits and hits[0].score < s.min_score:
            reason, text = "min_score", s.refusal
        if reason:
            yield text
            total = time.perf_counter() - started
            return Answer(text, True, self._sources(hits), (), Timings(embed_s, search_s, 0.0, total),
                          reason)
        # 3. Prompt within the context window, leaving room for the answer.
        generator = self.generator
        budget = generator.context_window - s.max_new_tokens - PROMPT_MARGIN_TOKENS
        prompt = build_prompt(question, hits, template=self.template, refusal=s.refusal,
                              count_tokens=generator.count_prompt_tokens, budget=budget)
        # 4. Generate, streaming pieces to the caller; extractive mode copies from the blocks.
        decoding = Decoding(prompt.texts if s.mode == "extractive" else (), s.refusal)
        gen_started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        stats: dict[str, Any] = {}
        for piece in generator.stream(prompt.messages, s.max_new_tokens, stats, decoding):
            if first is None:
                first = time.perf_counter() - gen_started
            pieces.append(piece)
            yield piece
        generate_s = time.perf_counter() - gen_started
        # 5. Read the answer back: refusal, the model's margin, where it lies in the blocks.
        text = "".join(pieces).strip()
        refused = is_refusal(text, s.refusal)
        sources = self._sources(prompt.hits)
        margin = None
        if stats.get("answer_logprob") is not None and stats.get("refusal_logprob") is not None:
            margin = float(stats["answer_logprob"]) - float(stats["refusal_logprob"])
        span = None if refused else _span(text, prompt, stats.get("span"))
        if span is not None and stats.get("span") is not None:  # extractive: the text is the span
            text = prompt.texts[span.block - 1][span.start:span.end]
        cited = cited_blocks(text, len(prompt.hits)) or ((span.block,) if span else ())
        # 6. Withdraw an answer the model itself prefers less than the calibrated threshold.
        withdraw = ""
        if not refused and margin is not None and s.refusal_threshold is not None \
                and margin < s.refusal_threshold:
            withdraw = "refusal_threshold"
        # 7. Withdraw an answer the retrieved text does not support.
        support, check_s = None, 0.0
        if self.support is not None and s.min_support is not None and not refused and not withdraw \
                and prompt.hits:
            check_started = time.perf_counter()
            support = self.support.score(text, [h.chunk.text for h in prompt.hits])
            check_s = time.perf_counter() - check_started
            if support < s.min_support:
                withdraw = "unsupported"
        timings = Timings(embed_s, search_s, generate_s, time.perf_counter() - started,
                          stats.get("tokens", 0), first, stats.get("prompt_tokens", prompt.tokens), check_s)
        if withdraw:
            yield f"\n\n[Withdrawn: {WITHDRAWN[withdraw]}] {s.refusal}"
            return Answer(s.refusal, True, sources, (), timings, withdraw, support, text, margin, span)
        return Answer(text, refused, sources, cited, timings, support=support, margin=margin, span=span)


def _span(text: str, prompt: Prompt, decoded: Any) -> Span | None:
    """Where the answer lies: the decoder's own span in extractive mode, else a verbatim match."""
    found = tuple(decoded) if decoded is not None else locate(text, prompt.texts)
    if found is None:
        return None
    index, start, end = found
    return make_span(index + 1, prompt.hits[index].chunk.id, prompt.texts[index], start, end)
