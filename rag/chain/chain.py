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
from collections.abc import Callable
from collections.abc import Generator as PyGenerator
from dataclasses import replace

from rag.answer.base import Answerer, Draft
from rag.answer.generative import GenerativeAnswerer
from rag.answer.groundedness import GroundednessScorer
from rag.answer.prompt import load_template
from rag.answer.voting import in_retrieval_order, majority, vote_key, vote_orders
from rag.chain.settings import ChainSettings
from rag.chain.stream import AnswerStream, drain
from rag.errors import InputError
from rag.generator import Generator
from rag.retrieval import Retriever
from rag.retrieval.filters import ChunkFilter, FilterLike, parse_filter
from rag.types import Answer, Hit, Source, Timings

EMPTY_INDEX = "The index is empty: ingest documents first (rag ingest DIR)."
NO_MATCH = "No indexed chunk matches the filter."
WITHDRAWN = {"refusal_threshold": "the model prefers not answering over this answer.",
             "unsupported": "the documents do not support this answer.",
             "no_answer": "no retrieved passage answers the question.",
             "low_confidence": "the verifier's confidence in this answer is below the threshold."}


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
        if not isinstance(answerer, Answerer):
            answerer = GenerativeAnswerer(answerer, load_template(settings.template, settings.closed_book),
                                          settings.refusal, settings.max_new_tokens, settings.mode)
        self.answerer: Answerer = answerer

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
    def max_new_tokens(self) -> int:
        """The generated answer's length limit (the reader's spans have none of their own)."""
        return self.settings.max_new_tokens

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

    def ask(self, question: str, k: int | None = None, chunk_filter: FilterLike = None) -> Answer:
        """Answer one question from the chunks `chunk_filter` allows (a ChunkFilter, a dict such
        as {"source": "docs/*.md", "pages": "3-7", "section": "Setup"}, or None).

        Raises:
            InputError: an empty question, k < 1, or a malformed filter or one matching nothing.
        """
        return self.stream(question, k, chunk_filter).drain()

    def stream(self, question: str, k: int | None = None, chunk_filter: FilterLike = None) -> AnswerStream:
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
        return drain(self._run(question.strip(), max(1, len(hits)), None, tuple(hits)))

    def retrieve_only(self, question: str, k: int | None = None) -> Answer:
        """What retrieval finds for `question`, as a refused Answer with no text (reason
        "retrieval only"): retrieval measured on its own, no answering model loaded.

        Raises:
            InputError: an empty question, or a closed-book chain (it retrieves nothing).
        """
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"question must be a non-empty string; got {question!r}")
        if self.retriever is None:
            raise InputError("a closed-book chain retrieves nothing")
        started = time.perf_counter()
        found = self.retriever.retrieve(question.strip(), k or self.settings.k)
        timings = Timings(embed_query=found.embed_seconds, retrieve=found.search_seconds,
                          total=time.perf_counter() - started)
        return Answer("", True, sources=self.sources_of(found.hits), timings=timings, reason="retrieval only")

    def sources_of(self, hits: tuple[Hit, ...]) -> tuple[Source, ...]:
        """Hits as reported to the user (snippets of `snippet_chars`)."""
        n = self.settings.snippet_chars
        return tuple(Source(h.chunk.source, h.chunk.page, h.chunk.id, h.score,
                            h.chunk.text[:n] + ("…" if len(h.chunk.text) > n else ""), h.chunk.section, h.chunk.ocr)
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
            return Answer(text, True, sources=self.sources_of(hits),
                          timings=Timings(embed_query=embed_s, retrieve=search_s, total=total),
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
        # 1. Withdraw an answer under the calibrated threshold: its confidence, else its margin.
        withdraw = s.withdrawal(draft, self.answerer.withdraw_reason)
        # 2. Withdraw a generated answer the retrieved text does not support.
        support, check_s = None, 0.0
        if self.support is not None and s.min_support is not None and not draft.refused and not withdraw \
                and draft.hits and not draft.verbatim:
            check_started = time.perf_counter()
            support = self.support.score(draft.text, [h.chunk.text for h in draft.hits])
            check_s = time.perf_counter() - check_started
            if support < s.min_support:
                withdraw = "unsupported"
        timings = Timings(generate=draft.seconds, tokens_generated=draft.tokens,
                          time_to_first_token=draft.first_piece, prompt_tokens=draft.input_tokens,
                          check_support=check_s)
        streamed = shown or isinstance(self.answerer, GenerativeAnswerer)  # the caller saw the draft
        if withdraw:
            yield f"\n\n[Withdrawn: {WITHDRAWN[withdraw]}] {s.refusal}" if streamed else s.refusal
            return Answer(s.refusal, True, sources=sources, timings=timings, reason=withdraw, support=support,
                          draft=draft.text, margin=draft.margin, span=draft.span, engine=self.engine,
                          confidence=draft.confidence)
        if not streamed:
            yield draft.text
        return Answer(draft.text, draft.refused, sources=sources, cited=draft.cited, timings=timings,
                      reason=draft.reason, support=support, draft=draft.draft, margin=draft.margin,
                      span=None if draft.refused else draft.span, engine=self.engine, confidence=draft.confidence)

    def _vote(self, question: str, hits: tuple[Hit, ...]) -> Answer:
        """`settings.votes` drafts, each with the chunks in another order; the majority wins."""
        drafts = [drain(self._checked(question, tuple(hits[i] for i in order)))
                  for order in vote_orders(len(hits), self.settings.votes)]
        winner, split = majority([vote_key(a.text, a.refused) for a in drafts])
        spent = [a.timings for a in drafts]
        # The voted answer's first piece comes once every draft is made and checked.
        answer_s = sum(t.generate + t.check_support for t in spent)
        timings = Timings(generate=sum(t.generate for t in spent),
                          tokens_generated=sum(t.tokens_generated for t in spent), time_to_first_token=answer_s,
                          prompt_tokens=sum(t.prompt_tokens for t in spent),
                          check_support=sum(t.check_support for t in spent))
        votes, texts = tuple(split.items()), tuple(a.draft or a.text for a in drafts)
        if winner is None:
            return Answer(self.settings.refusal, True, sources=self.sources_of(hits), reason="no majority",
                          engine=self.engine, votes=votes, drafts=texts, timings=timings)
        chosen = next(a for a in drafts if vote_key(a.text, a.refused) == winner)
        return replace(in_retrieval_order(chosen, hits), votes=votes, drafts=texts, timings=timings)
