"""The query chain: question -> vector -> hits -> prompt -> answer, with refusal gates before
generation (empty index, min_score) and two checks after it: the model's own refusal margin
against a calibrated threshold (refusal_threshold), then groundedness (min_support).

`ask` and `stream` run the same generator function, so their Answer is the same by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, replace
from typing import Any

from rag.errors import InputError
from rag.filters import ChunkFilter, parse_filter
from rag.generator import Generator
from rag.generator.base import Decoding
from rag.groundedness import GroundednessScorer
from rag.prompt import Prompt, build_prompt, cited_blocks, is_refusal, load_template
from rag.retrieval import Retriever
from rag.spans import locate, make_span
from rag.types import Answer, Hit, Source, Span, Timings
from rag.voting import majority, vote_key, vote_orders

EMPTY_INDEX = "The index is empty: ingest documents first (rag ingest DIR)."
NO_MATCH = "No indexed chunk matches the filter."
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
    votes: int = 1  # drafts voted on (chunk order varied); 1 = a single streamed draft


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
    def generator_loaded(self) -> bool:
        """Whether the generator is loaded (a function given for it is called on first use)."""
        return not (callable(self._generator) and not hasattr(self._generator, "generate"))

    @property
    def generator(self) -> Generator:
        if not self.generator_loaded:
            self._generator = self._generator()  # type: ignore[operator]
        return self._generator  # type: ignore[return-value]

    def ask(self, question: str, k: int | None = None, chunk_filter: Any = None) -> Answer:
        """Answer one question from the chunks `chunk_filter` allows (a ChunkFilter, a dict such
        as {"source": "docs/*.md", "pages": "3-7", "section": "Setup"}, or None).

        Raises:
            InputError: an empty question, k < 1, or a malformed filter or one matching nothing.
        """
        stream = self.stream(question, k, chunk_filter)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def stream(self, question: str, k: int | None = None, chunk_filter: Any = None) -> AnswerStream:
        """Like `ask`, yielding text as it is generated; the Answer is on `.answer` afterwards.
        With votes > 1 the drafts are generated silently and the voted answer comes as one piece."""
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string; got {question!r}")
        if k is not None and k < 1:
            raise InputError(f"k must be >= 1; got {k}")
        return AnswerStream(self._run(question.strip(), k or self.settings.k, parse_filter(chunk_filter)))

    def sources_of(self, hits: tuple[Hit, ...]) -> tuple[Source, ...]:
        """Hits as reported to the user (snippets of `snippet_chars`)."""
        n = self.settings.snippet_chars
        return tuple(Source(h.chunk.source, h.chunk.page, h.chunk.id, h.score,
                            h.chunk.text[:n] + ("…" if len(h.chunk.text) > n else ""), h.chunk.section)
                     for h in hits)

    def _run(self, question: str, k: int, chunk_filter: ChunkFilter | None) -> PyGenerator[str, None, Answer]:
        started = time.perf_counter()
        s = self.settings
        # 1. Retrieve (closed-book skips it), among the chunks the filter allows.
        hits: tuple[Hit, ...] = ()
        embed_s = search_s = 0.0
        if not s.closed_book and self.retriever is not None:
            found = self.retriever.retrieve(question, k, chunk_filter)
            hits, embed_s, search_s = found.hits, found.embed_seconds, found.search_seconds
        # 2. Gates that refuse without generating.
        reason = ""
        if not s.closed_book and not hits:
            reason, text = ("no match", NO_MATCH) if chunk_filter else ("empty index", EMPTY_INDEX)
        elif s.min_score is not None and hits and max(h.score for h in hits) < s.min_score:
            reason, text = "min_score", s.refusal
        if reason:
            yield text
            total = time.perf_counter() - started
            return Answer(text, True, self.sources_of(hits), (), Timings(embed_s, search_s, 0.0, total),
                          reason)
        # 3. One draft streamed as generated, or several voted on.
        if s.votes > 1:
            answer = self._vote(question, hits)
            yield answer.text
        else:
            answer = yield from self._draft(question, hits)
        timings = replace(answer.timings, embed_query=embed_s, retrieve=search_s,
                          total=time.perf_counter() - started)
        return replace(answer, timings=timings)

    def _draft(self, question: str, hits: tuple[Hit, ...]) -> PyGenerator[str, None, Answer]:
        """Prompt, generate, read back and check one answer from `hits` in the order given."""
        s = self.settings
        # 1. Prompt within the context window, leaving room for the answer.
        generator = self.generator
        budget = generator.context_window - s.max_new_tokens - PROMPT_MARGIN_TOKENS
        prompt = build_prompt(question, hits, template=self.template, refusal=s.refusal,
                              count_tokens=generator.count_prompt_tokens, budget=budget)
        # 2. Generate, streaming pieces to the caller; extractive mode copies from the blocks.
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
        # 3. Read the answer back: refusal, the model's margin, where it lies in the blocks.
        text = "".join(pieces).strip()
        refused = is_refusal(text, s.refusal)
        sources = self.sources_of(prompt.hits)
        margin = None
        if stats.get("answer_logprob") is not None and stats.get("refusal_logprob") is not None:
            margin = float(stats["answer_logprob"]) - float(stats["refusal_logprob"])
        span = None if refused else _span(text, prompt, stats.get("span"))
        if span is not None and stats.get("span") is not None:  # extractive: the text is the span
            text = prompt.texts[span.block - 1][span.start:span.end]
        cited = cited_blocks(text, len(prompt.hits)) or ((span.block,) if span else ())
        # 4. Withdraw an answer the model itself prefers less than the calibrated threshold.
        withdraw = ""
        if not refused and margin is not None and s.refusal_threshold is not None \
                and margin < s.refusal_threshold:
            withdraw = "refusal_threshold"
        # 5. Withdraw an answer the retrieved text does not support.
        support, check_s = None, 0.0
        if self.support is not None and s.min_support is not None and not refused and not withdraw \
                and prompt.hits:
            check_started = time.perf_counter()
            support = self.support.score(text, [h.chunk.text for h in prompt.hits])
            check_s = time.perf_counter() - check_started
            if support < s.min_support:
                withdraw = "unsupported"
        timings = Timings(0.0, 0.0, generate_s, 0.0, stats.get("tokens", 0), first,
                          stats.get("prompt_tokens", prompt.tokens), check_s)
        if withdraw:
            yield f"\n\n[Withdrawn: {WITHDRAWN[withdraw]}] {s.refusal}"
            return Answer(s.refusal, True, sources, (), timings, withdraw, support, text, margin, span)
        return Answer(text, refused, sources, cited, timings, support=support, margin=margin, span=span)

    def _vote(self, question: str, hits: tuple[Hit, ...]) -> Answer:
        """`settings.votes` drafts, each with the chunks in another order; the majority wins."""
        drafts = [_drain(self._draft(question, tuple(hits[i] for i in order)))
                  for order in vote_orders(len(hits), self.settings.votes)]
        winner, split = majority([vote_key(a.text, a.refused) for a in drafts])
        spent = [a.timings for a in drafts]
        generate_s = sum(t.generate + t.check_support for t in spent)
        timings = Timings(0.0, 0.0, sum(t.generate for t in spent), 0.0,
                          sum(t.tokens_generated for t in spent), generate_s,
                          sum(t.prompt_tokens for t in spent), sum(t.check_support for t in spent))
        voted = dict(votes=tuple(split.items()), drafts=tuple(a.draft or a.text for a in drafts),
                     timings=timings)
        if winner is None:
            return Answer(self.settings.refusal, True, self.sources_of(hits), (), reason="no majority",
                          **voted)  # type: ignore[arg-type]
        chosen = next(a for a in drafts if vote_key(a.text, a.refused) == winner)
        return replace(in_retrieval_order(chosen, hits), **voted)  # type: ignore[arg-type]


def in_retrieval_order(answer: Answer, hits: tuple[Hit, ...]) -> Answer:
    """A draft's sources put back in retrieval order, its cited blocks and span renumbered to
    match (a voted draft saw the chunks in another order)."""
    rank = {h.chunk.id: i for i, h in enumerate(hits)}
    order = sorted(range(len(answer.sources)), key=lambda i: rank.get(answer.sources[i].chunk_id, i))
    number = {old + 1: new + 1 for new, old in enumerate(order)}
    span = replace(answer.span, block=number[answer.span.block]) if answer.span else None
    return replace(answer, sources=tuple(answer.sources[i] for i in order), span=span,
                   cited=tuple(sorted(number[c] for c in answer.cited if c in number)))


def _drain(pieces: PyGenerator[str, None, Answer]) -> Answer:
    """Run a draft to its end without showing its pieces; its Answer."""
    while True:
        try:
            next(pieces)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _span(text: str, prompt: Prompt, decoded: Any) -> Span | None:
    """Where the answer lies: the decoder's own span in extractive mode, else a verbatim match."""
    found = tuple(decoded) if decoded is not None else locate(text, prompt.texts)
    if found is None:
        return None
    index, start, end = found
    return make_span(index + 1, prompt.hits[index].chunk.id, prompt.texts[index], start, end)
