"""One answer streamed from a local backend: the prompt tokenized, the extractive constraint and
refusal set up, greedy decoding run, text pieces yielded as they become whole, and the stats
filled. Every local backend (PyTorch, ONNX Runtime) answers through this function, so they
differ only in their `Runner` and their `TextCodec`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from rag.generator.base import Decoding, Generation, Messages, StreamReport
from rag.generator.constraints import SpanConstraint
from rag.generator.decoding import Runner, greedy_decode
from rag.generator.prefix_cache import PrefixCache


class TextCodec(Protocol):
    """A model's tokenizer and chat template, as decoding needs them."""

    def chat_ids(self, messages: Messages) -> list[int]:
        """The rendered chat prompt's ids, generation prompt included."""
        ...

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids of `text` (no special tokens) and each id's character offsets."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens skipped."""
        ...


def stream_answer(codec: TextCodec, runner: Runner, messages: Messages, max_new_tokens: int,
                  report: StreamReport, decoding: Decoding, eos_ids: Sequence[int],
                  prefix: PrefixCache | None, stop: Any) -> Iterator[str]:
    """Decode greedily and yield text pieces; fills `report` when done (see Generator)."""
    ids = codec.chat_ids(messages)
    report.prompt_tokens = len(ids)
    # The leading space makes the refusal's tokens those the model emits after the header.
    refusal = codec.encode(" " + decoding.refusal.strip())[0] if decoding.refusal else []
    spans = [codec.encode(t) for t in decoding.spans]
    constraint = SpanConstraint([s[0] for s in spans], refusal, eos_ids) if decoding.spans else None
    steps = greedy_decode(runner, ids, max_new_tokens, eos_ids, constraint=constraint, refusal=refusal,
                          stop=stop, prefix=prefix)
    tokens: list[int] = []
    shown = ""
    while True:
        try:
            tokens.append(next(steps))
        except StopIteration as finished:
            decoded = finished.value
            break
        text = codec.decode(tokens).lstrip()
        if text.startswith(shown) and len(text) > len(shown) and not text.endswith("\ufffd"):
            yield text[len(shown):]
            shown = text
    text = codec.decode(tokens).lstrip()
    if text.startswith(shown) and len(text) > len(shown):
        yield text[len(shown):]
    report.tokens = len(decoded.tokens)
    report.answer_logprob, report.refusal_logprob = decoded.answer_logprob, decoded.refusal_logprob
    match = constraint.match() if constraint is not None else None
    if match is not None:
        offsets = spans[match.text_index][1]
        report.span = (match.text_index, int(offsets[match.token_start][0]),
                       int(offsets[match.token_end - 1][1]))


class LocalGenerator:
    """`generate` and `stream` over a backend's `_stream`: what every local backend shares."""

    def _stream(self, messages: Messages, max_new_tokens: int, report: StreamReport,
                decoding: Decoding) -> Iterator[str]:
        raise NotImplementedError

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        started = time.perf_counter()
        report = StreamReport()
        pieces: list[str] = []
        first: float | None = None
        for piece in self._stream(messages, max_new_tokens, report, Decoding()):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
        return Generation("".join(pieces).strip(), report.tokens, first, report.prompt_tokens)

    def stream(self, messages: Messages, max_new_tokens: int, report: StreamReport | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        return self._stream(messages, max_new_tokens, StreamReport() if report is None else report,
                            decoding or Decoding())
