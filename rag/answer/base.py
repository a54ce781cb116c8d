"""The answering seam: an `Answerer` reads the question and the hits that passed the gates and
returns a typed `Draft`; the chain (rag.chain) then applies its checks (threshold, support)
and votes. Two engines implement it: the extractive reader (rag.answer.extractive, default)
and the generator (rag.answer.generative: a local LM or an OpenAI-compatible server)."""

from __future__ import annotations

from collections.abc import Generator as PyGenerator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rag.types import Hit, Span


@dataclass(frozen=True)
class Draft:
    """One answer before the chain's checks.

    Attributes:
        text: the answer (the refusal sentence when `refused`).
        refused: the engine itself declined to answer.
        hits: the hits it read, in the order it read them (a prompt may drop some for room).
        span: where `text` lies verbatim in one of `hits` (block = 1-based position in `hits`).
        margin: how much the engine prefers this answer over refusing (generator: log P(answer)
            - log P(refusal); reader: best span score - lowest no-answer score); None if unknown.
        cited: 1-based blocks the answer cites.
        reason: why the engine refused ("" when it answered or refused in its own words).
        draft: the answer the engine refused to give (the reader's best span below threshold).
        seconds, first_piece: time answering, and until its first text piece (streamed engines).
        tokens, input_tokens: tokens generated; tokens read (prompt or reader windows).
        verbatim: `text` is copied from a chunk by construction (support checks are moot).
        confidence: the verifier's probability that the answer is right (None: no verifier).
    """

    text: str
    refused: bool
    hits: tuple[Hit, ...]
    span: Span | None = None
    margin: float | None = None
    cited: tuple[int, ...] = ()
    reason: str = ""
    draft: str = ""
    seconds: float = 0.0
    first_piece: float | None = None
    tokens: int = 0
    input_tokens: int = 0
    verbatim: bool = False
    confidence: float | None = None


@runtime_checkable
class Answerer(Protocol):
    """Question + hits -> Draft. `draft` yields text pieces as they are produced (an engine that
    does not stream yields none) and returns the Draft.

    Attributes:
        engine: "reader" or "generator" (reported in `Answer.engine`).
        withdraw_reason: the chain's reason when `margin` falls below the threshold.
    """

    engine: str
    withdraw_reason: str

    @property
    def loaded(self) -> bool:
        """Whether the model behind it is loaded (it loads on first use)."""
        ...

    def load(self) -> None:
        """Load the model now (a server's start; `rag ask` while it searches)."""
        ...

    def lanes(self) -> int:
        """Answers it can run at once."""
        ...

    def draft(self, question: str, hits: tuple[Hit, ...]) -> PyGenerator[str, None, Draft]: ...
