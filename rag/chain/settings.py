"""What the chain needs from the configuration: plain values whose defaults are the
configuration's own (one source of every default), and `from_config` for the wiring."""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer.base import Draft
from rag.config import AnswerConfig, GeneratorConfig, PromptConfig, RagConfig, RetrievalConfig

_RETRIEVAL, _GENERATOR, _PROMPT, _ANSWER = RetrievalConfig(), GeneratorConfig(), PromptConfig(), AnswerConfig()


@dataclass(frozen=True)
class ChainSettings:
    """The chain's settings. max_new_tokens, template and mode configure a generator given in
    place of an answerer.

    Attributes:
        k: chunks retrieved; min_score: the top cosine under which the chain refuses unasked.
        max_new_tokens, template, refusal, snippet_chars: the generator's answer length, the
            prompt template, the refusal sentence, the source snippets' length.
        closed_book: no retrieval, the model on its own.
        min_support: withdraw answers less grounded than this (needs a scorer); None = off.
        mode: "extractive" (only a verbatim span of one chunk, or the refusal) or "free".
        refusal_threshold: refuse when the answerer's margin is below it; None = no such check
            (the wiring passes the card's threshold, see `Components.refusal_threshold`).
        min_confidence: refuse when the verifier's confidence is below it, in place of the
            margin rule (answers without a confidence keep that rule); None = no such check.
        votes: drafts voted on (chunk order varied); 1 = a single streamed draft.
    """

    k: int = _RETRIEVAL.k
    min_score: float | None = _RETRIEVAL.min_cosine
    max_new_tokens: int = _GENERATOR.max_new_tokens
    template: str | None = _PROMPT.template
    refusal: str = _PROMPT.refusal
    snippet_chars: int = _PROMPT.snippet_chars
    closed_book: bool = False
    min_support: float | None = _ANSWER.min_support
    mode: str = _ANSWER.mode
    refusal_threshold: float | None = None
    votes: int = _ANSWER.votes
    min_confidence: float | None = None

    def withdrawal(self, draft: Draft, margin_reason: str) -> str:
        """Why the chain withdraws `draft` by its threshold ("" to keep it): the confidence
        below min_confidence where the draft has one, else its margin below refusal_threshold."""
        if draft.refused:
            return ""
        if draft.confidence is not None and self.min_confidence is not None:
            return "low_confidence" if draft.confidence < self.min_confidence else ""
        low = draft.margin is not None and self.refusal_threshold is not None and draft.margin < self.refusal_threshold
        return margin_reason if low else ""

    @classmethod
    def from_config(cls, config: RagConfig, closed_book: bool = False, refusal_threshold: float | None = None,
                    min_confidence: float | None = None) -> ChainSettings:
        """The settings of `config` (the two thresholds as resolved by the wiring)."""
        return cls(k=config.retrieval.k, min_score=config.retrieval.min_cosine,
                   max_new_tokens=config.generator.max_new_tokens, template=config.prompt.template,
                   refusal=config.prompt.refusal, snippet_chars=config.prompt.snippet_chars,
                   closed_book=closed_book, min_support=config.answer.min_support, mode=config.answer.mode,
                   refusal_threshold=refusal_threshold, votes=config.answer.votes, min_confidence=min_confidence)
