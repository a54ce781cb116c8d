"""The Generator protocol and the values it takes and returns: every backend implements these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """Generated text with its counters."""

    text: str
    tokens: int
    time_to_first_token: float | None
    prompt_tokens: int


@dataclass(frozen=True)
class Decoding:
    """How to decode one answer.

    Attributes:
        spans: texts the answer must be copied from verbatim (extractive mode); empty = free.
        refusal: a sentence to score against the answer (the refusal margin); None = not scored.
            In extractive mode it is also the one non-span output allowed.
    """

    spans: tuple[str, ...] = ()
    refusal: str | None = None


class Generator(Protocol):
    """Turns chat messages into text.

    `stream` fills `stats` once the stream ends: "tokens" and "prompt_tokens" always; a backend
    that can also reports "answer_logprob" and "refusal_logprob" (when `decoding.refusal` is
    set) and, in extractive mode, "span" = (index into decoding.spans, char start, char end).
    """

    name: str
    context_window: int

    def count_prompt_tokens(self, messages: Messages) -> int:
        """Tokens of the rendered chat prompt, generation prompt included."""
        ...

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation: ...

    def stream(self, messages: Messages, max_new_tokens: int, stats: dict[str, Any] | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; they join to `generate`'s text."""
        ...
