"""The query chain: question -> vector -> hits -> prompt -> answer, with refusal gates before
generation (empty index, min_score) and a support check after it (min_support).

`ask` and `stream` run the same generator function, so their Answer is the same by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass

from rag.errors import InputError
from rag.generator import Generator
from rag.groundedness import GroundednessScorer
from rag.prompt import build_prompt, cited_blocks, is_refusal, load_template
from rag.retriever import Retriever
from rag.types import Answer, Hit, Source, Timings

EMPTY_INDEX = "The index is empty: ingest documents first (rag ingest DIR)."
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
        # 4. Generate, streaming pieces to the caller.
        gen_started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        stats: dict[str, int] = {}
        for piece in generator.stream(prompt.messages, s.max_new_tokens, stats):
            if first is None:
                first = time.perf_counter() - gen_started
            pieces.append(piece)
            yield piece
        generate_s = time.perf_counter() - gen_started
        # 5. Read the answer back.
        text = "".join(pieces).strip()
        refused = is_refusal(text, s.refusal)
        sources = self._sources(prompt.hits)
        # 6. Withdraw an answer the retrieved text does not support.
        support, check_s = None, 0.0
        if self.support is not None and s.min_support is not None and not refused and prompt.hits:
            check_started = time.perf_counter()
            support = self.support.score(text, [h.chunk.text for h in prompt.hits])
            check_s = time.perf_counter() - check_started
        timings = Timings(embed_s, search_s, generate_s, time.perf_counter() - started,
                          stats.get("tokens", 0), first, stats.get("prompt_tokens", prompt.tokens), check_s)
        if support is not None and s.min_support is not None and support < s.min_support:
            yield f"\n\n[Withdrawn: the documents do not support this answer.] {s.refusal}"
            return Answer(s.refusal, True, sources, (), timings, "unsupported", support, text)
        return Answer(text, refused, sources, cited_blocks(text, len(prompt.hits)), timings,
                      support=support)
