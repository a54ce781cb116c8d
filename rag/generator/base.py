"""The Generator protocol and the values it takes and returns: every backend implements these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """Generated text with its counters."""

    text: str
    tokens: int
    time_to_first_token: float | None
    prompt_tokens: int


@dataclass
class StreamReport:
    """What a stream reports once it ends (the caller passes one in; the backend fills it).

    Attributes:
        tokens, prompt_tokens: tokens generated and tokens of the rendered prompt.
        answer_logprob, refusal_logprob: log P(answer) and log P(refusal) under the model, when
            the backend can score them and `Decoding.refusal` is set; else None.
        span: in extractive mode, (index into Decoding.spans, char start, char end) of the
            span the answer was copied from; else None.
    """

    tokens: int = 0
    prompt_tokens: int = 0
    answer_logprob: float | None = None
    refusal_logprob: float | None = None
    span: tuple[int, int, int] | None = None

    @property
    def margin(self) -> float | None:
        """log P(answer) - log P(refusal), when both were scored."""
        if self.answer_logprob is None or self.refusal_logprob is None:
            return None
        return float(self.answer_logprob) - float(self.refusal_logprob)


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


@runtime_checkable
class Generator(Protocol):
    """Turns chat messages into text. `stream` fills the StreamReport it is given once the
    stream ends (tokens always; the log-probabilities and the span where the backend can)."""

    name: str
    context_window: int

    def count_prompt_tokens(self, messages: Messages) -> int:
        """Tokens of the rendered chat prompt, generation prompt included."""
        ...

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation: ...

    def stream(self, messages: Messages, max_new_tokens: int, report: StreamReport | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; they join to `generate`'s text."""
        ...


# Abilities some generators have, declared so callers test for them by type, not by name.
@runtime_checkable
class AdapterSwitch(Protocol):
    """A generator whose LoRA adapter can be switched off (the local backends)."""

    @property
    def can_disable_adapter(self) -> bool:
        """Whether it holds an adapter `without_adapter` can switch off."""
        ...

    def without_adapter(self) -> Generator:
        """The same model on its base weights (raises ConfigError without an adapter)."""
        ...


@runtime_checkable
class Laned(Protocol):
    """A generator that runs several answers at once (ONNX Runtime with lanes)."""

    def lane_count(self) -> int:
        """Answers it runs at once."""
        ...

    def open_lanes(self) -> None:
        """Open what the extra lanes run on now, not when the second answer arrives."""
        ...
