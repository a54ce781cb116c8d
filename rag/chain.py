"""The query chain: question -> hits -> gates -> answerer -> checks (-> vote) -> Answer.

Gates refuse before answering (empty index, nothing matching the filter, min_score). The
answerer (rag.answer: the extractive reader or the generator) drafts an answer. Checks then
withdraw it: its margin below the threshold (the reader's no-answer gap, the generator's
refusal margin), then groundedness under min_support (generated text only: a reader's span is
verbatim by construction).

`ask` and `stream` run the same generator function, so their Answer is the same by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, replace
from typing import Any

from rag.answer.base import Answerer, Draft
from rag.answer.generative import PROMPT_MARGIN_TOKENS, GenerativeAnswerer
from rag.answer.groundedness import GroundednessScorer
from rag.answer.prompt import load_template
from rag.answer.voting import in_retrieval_order, majority, vote_key, vote_orders
from rag.errors import InputError
from rag.filters import ChunkFilter, parse_filter
from rag.generator import Generator
from rag.retrieval import Retriever
from rag.types import Answer, Hit, Source, Timings

__all__ = ["PROMPT_MARGIN_TOKENS", "AnswerStream", "ChainSettings", "RagChain", "in_retrieval_order"]

EMPTY_INDEX = "The index is empty: ingest documents first (rag ingest DIR)."
NO_MATCH = "No indexed chunk matches the filter."
WITHDRAWN = {"refusal_threshold": "the model prefers not answering over this answer.",
             "unsupported": "the documents do not support this answer.",
             "no_answer": "no retrieved passage answers the question."}


@dataclass(frozen=True)
class ChainSettings:
    """What the chain needs from the configuration (plain values only). max_new_tokens,
    template and mode configure a generator given in place of an answerer."""

    k: int = 4
    min_score: float | None = None
    max_new_tokens: int = 128
    template: str | None = None
    refusal: str = "I don't know."
    snippet_chars: int = 200
    closed_book: bool = False
    min_support: float | None = None  # withdraw answers less grounded than this (needs a scorer)
    mode: str = "free"  # or "extractive": only a verbatim span of one chunk, or the refusal
    refusal_threshold: float | None = None  # refuse when the answerer's margin is below
    votes: int = 1  # drafts voted on (chunk order varied); 1 = a single streamed draft


class AnswerStream:
    """Iterate for the answer's text pieces; `.answer` holds the Answer once exhausted."""

    def __init__(self, pieces: PyGenerator[str, None, Answer]) -> None:
        self._pieces = pieces
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        self.answer = yield from self._pieces


class RagChain:
    """Retrieve, gate, answer, check.

    Args:
        retriever: question -> hits (unused when closed_book).
        answerer: an Answerer (rag.answer), or a Generator / a function returning one, which
            answers through a GenerativeAnswerer made from `settings`.
        settings: ChainSettings.
        support: scores an answer against its chunks; with `settings.min_support` set, a
            generated answer scoring below is withdrawn. Streaming callers have seen the draft
            by then: the stream ends with a piece saying it was withdrawn, and `.answer` is the
            refusal.
    """

    def __init__(self, retriever: Retriever | None, answerer: Answerer | Generator | Callable[[], Generator],
                 settings: ChainSettings, support: GroundednessScorer | None = None) -> None:
        self.retriever = retriever
        self.settings = settings
        self.support = support
        if not hasattr(answerer, "draft"):
            answerer = GenerativeAnswerer(answerer, load_template(settings.template, settings.closed_book),  # type: ignore[arg-type]
                                          settings.refusal, settings.max_new_tokens, settings.mode)
        self.answerer: Answerer = answerer  # type: ignore[assignment]

    @property
    def engine(self) -> str:
        return self.answerer.engine

    @property
    def loaded(self) -> bool:
        """Whether the answerer's model is loaded (it loads on first use)."""
        return self.answerer.loaded

    @property
    def generator_loaded(self) -> bool:
        return self.loaded

    @property
    def generator(self) -> Generator:
        """The generator of the generator engine.

        Raises:
            InputError: the chain answers with the reader.
        """
        if not isinstance(self.answerer, GenerativeAnswerer):
            raise InputError(f"the {self.engine} engine has no generator (answer.engine = \"generator\" has)")
        return self.answerer.generator

    @property
    def template(self) -> str:
        return self.answerer.template if isinstance(self.answerer, GenerativeAnswerer) else ""

    def capped(self, max_new_tokens: int | None) -> RagChain:
        """This chain with generated answers cut at `max_new_tokens` (the reader is unaffected)."""
        if max_new_tokens is None or not isinstance(self.answerer, GenerativeAnswerer) \
                or max_new_tokens >= self.answerer.max_new_tokens:
            return self
        settings = replace(self.settings, max_new_tokens=max_new_tokens)
        return RagChain(self.retriever, self.answerer.capped(max_new_tokens), settings, self.support)

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
        """Like `ask`, yielding text as it is produced; the Answer is on `.answer` afterwards.
        With votes > 1 the drafts are made silently and the voted answer comes as one piece."""
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string; got {question!r}")
        if k is not None and k < 1:
            raise InputError(f"k must be >= 1; got {k}")
        return AnswerStream(self._run(question.strip(), k or self.settings.k, parse_filter(chunk_filter)))

    def ask_passages(self, question: str, hits: tuple[Hit, ...]) -> Answer:
        """Answer from `hits` as if they had been retrieved (no retrieval; the gates and checks
        as in `ask`): a question read against a paragraph of one's own choosing.

        Raises:
            InputError: an empty question.
        """
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string; got {question!r}")
        stream = AnswerStream(self._run(question.strip(), max(1, len(hits)), None, tuple(hits)))
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def sources_of(self, hits: tuple[Hit, ...]) -> tuple[Source, ...]:
        """Hits as reported to the user (snippets of `snippet_chars`)."""
        n = self.settings.snippet_chars
        return tuple(Source(h.chunk.source, h.chunk.page, h.chunk.id, h.score,
                            h.chunk.text[:n] + ("…" if len(h.chunk.text) > n else ""), h.chunk.section)
                     for h in hits)

    def _run(self, question: str, k: int, chunk_filter: ChunkFilter | None,
             given: tuple[Hit, ...] | None = None) -> PyGenerator[str, None, Answer]:
        started = time.perf_counter()
        s = self.settings
        # 1. Retrieve (closed-book skips it; `given` hits replace it), among the chunks the filter allows.
        hits: tuple[Hit, ...] = given or ()
        embed_s = search_s = 0.0
        if given is None and not s.closed_book and self.retriever is not None:
            found = self.retriever.retrieve(question, k, chunk_filter)
            hits, embed_s, search_s = found.hits, found.embed_seconds, found.search_seconds
        # 2. Gates that refuse without answering.
        reason = ""
        if not s.closed_book and not hits:
            reason, text = ("no match", NO_MATCH) if chunk_filter else ("empty index", EMPTY_INDEX)
        elif s.min_score is not None and hits and max(h.score for h in hits) < s.min_score:
            reason, text = "min_score", s.refusal
        if reason:
            yield text
            total = time.perf_counter() - started
            return Answer(text, True, self.sources_of(hits), timings=Timings(embed_s, search_s, 0.0, total),
                          reason=reason, engine=self.engine)
        # 3. One draft streamed as produced, or several voted on.
        if s.votes > 1:
            answer = self._vote(question, hits)
            yield answer.text
        else:
            answer = yield from self._checked(question, hits)
        timings = replace(answer.timings, embed_query=embed_s, retrieve=search_s,
                          total=time.perf_counter() - started)
        return replace(answer, timings=timings)

    def _checked(self, question: str, hits: tuple[Hit, ...]) -> PyGenerator[str, None, Answer]:
        """One draft of the answerer from `hits` in the order given, then the checks."""
        s = self.settings
        shown = False
        pieces = self.answerer.draft(question, hits)
        while True:
            try:
                piece = next(pieces)
            except StopIteration as done:
                draft: Draft = done.value
                break
            shown = True
            yield piece
        sources = self.sources_of(draft.hits)
        # 1. Withdraw an answer the engine prefers less than the calibrated threshold.
        withdraw = ""
        if not draft.refused and draft.margin is not None and s.refusal_threshold is not None \
                and draft.margin < s.refusal_threshold:
            withdraw = self.answerer.withdraw_reason
        # 2. Withdraw a generated answer the retrieved text does not support.
        support, check_s = None, 0.0
        if self.support is not None and s.min_support is not None and not draft.refused and not withdraw \
                and draft.hits and not draft.verbatim:
            check_started = time.perf_counter()
            support = self.support.score(draft.text, [h.chunk.text for h in draft.hits])
            check_s = time.perf_counter() - check_started
            if support < s.min_support:
                withdraw = "unsupported"
        timings = Timings(0.0, 0.0, draft.seconds, 0.0, draft.tokens, draft.first_piece, draft.input_tokens,
                          check_s)
        streamed = shown or isinstance(self.answerer, GenerativeAnswerer)  # the caller saw the draft
        if withdraw:
            yield f"\n\n[Withdrawn: {WITHDRAWN[withdraw]}] {s.refusal}" if streamed else s.refusal
            return Answer(s.refusal, True, sources, (), timings, withdraw, support, draft.text, draft.margin,
                          draft.span, engine=self.engine)
        if not streamed:
            yield draft.text
        return Answer(draft.text, draft.refused, sources, draft.cited, timings, draft.reason, support,
                      draft.draft, draft.margin, None if draft.refused else draft.span, engine=self.engine)

    def _vote(self, question: str, hits: tuple[Hit, ...]) -> Answer:
        """`settings.votes` drafts, each with the chunks in another order; the majority wins."""
        drafts = [_drain(self._checked(question, tuple(hits[i] for i in order)))
                  for order in vote_orders(len(hits), self.settings.votes)]
        winner, split = majority([vote_key(a.text, a.refused) for a in drafts])
        spent = [a.timings for a in drafts]
        answer_s = sum(t.generate + t.check_support for t in spent)
        timings = Timings(0.0, 0.0, sum(t.generate for t in spent), 0.0,
                          sum(t.tokens_generated for t in spent), answer_s,
                          sum(t.prompt_tokens for t in spent), sum(t.check_support for t in spent))
        voted = dict(votes=tuple(split.items()), drafts=tuple(a.draft or a.text for a in drafts),
                     timings=timings)
        if winner is None:
            return Answer(self.settings.refusal, True, self.sources_of(hits), (), reason="no majority",
                          engine=self.engine, **voted)  # type: ignore[arg-type]
        chosen = next(a for a in drafts if vote_key(a.text, a.refused) == winner)
        return replace(in_retrieval_order(chosen, hits), **voted)  # type: ignore[arg-type]


def _drain(pieces: PyGenerator[str, None, Answer]) -> Answer:
    """Run a draft to its end without showing its pieces; its Answer."""
    while True:
        try:
            next(pieces)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
