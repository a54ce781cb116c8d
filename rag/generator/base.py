"""The Generator protocol and the values it returns: every backend implements these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """Generated text with its counters."""

    text: str
    tokens: int
    time_to_first_token: float | None
    prompt_tokens: int


class Generator(Protocol):
    """Turns chat messages into text."""

    name: str
    context_window: int

    def count_prompt_tokens(self, messages: Messages) -> int:
        """Tokens of the rendered chat prompt, generation prompt included."""
        ...

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation: ...

    def stream(self, messages: Messages, max_new_tokens: int,
               stats: dict[str, int] | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; they join to `generate`'s text.
        When given, `stats` receives "tokens" and "prompt_tokens" once the stream ends."""
        ...
