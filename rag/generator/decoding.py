"""Greedy decoding with a KV cache, one token at a time: the loop behind every local backend.

Owning the loop, rather than calling `model.generate`, lets one prefill serve three needs:
(1) an extractive constraint masks each step to verbatim spans of the chunks; (2) the
log-probability of every chosen token is kept, under the model's own (unconstrained)
distribution; (3) the refusal sentence is scored from the same prefill, so the refusal margin
costs a few tokens of compute rather than a second pass over the prompt.

The loop sees the model through a `Runner` (PyTorch: rag.generator.torch_runner; ONNX Runtime:
rag.generator.onnx_lm) and works on NumPy logits, so both backends decode by the same code.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rag.generator.constraints import SpanConstraint
from rag.generator.prefix_cache import PrefixCache


class Runner(Protocol):
    """One model's forward passes over a key/value cache (None = empty)."""

    def prefill(self, ids: Sequence[int], cache: Any) -> tuple[np.ndarray, Any]:
        """Run `ids` after `cache`; the last position's logits (vocabulary,) and the new cache."""
        ...

    def score(self, cache: Any, tokens: Sequence[int]) -> np.ndarray:
        """Logits after each of `tokens` fed after `cache`, shape (len(tokens), vocabulary);
        `cache` is left as it was."""
        ...

    def snapshot(self, cache: Any) -> Any:
        """What the prefix cache keeps of a cache right after a prefill (never changed later)."""
        ...

    def head(self, snapshot: Any, length: int) -> Any:
        """A new cache holding a snapshot's first `length` positions."""
        ...


@dataclass(frozen=True)
class Decoded:
    """What one decode produced.

    Attributes:
        tokens: generated ids, end-of-answer token excluded.
        answer_logprob: log P(tokens + end token | prompt) under the unconstrained model.
        refusal_logprob: log P(refusal + end token | prompt), or None when not asked for.
        constraint: the extractive state at the end, or None in free mode.
    """

    tokens: tuple[int, ...]
    answer_logprob: float
    refusal_logprob: float | None
    constraint: SpanConstraint | None


def ends_in_loop(tokens: Sequence[object], min_span: int = 12, max_period: int = 40) -> bool:
    """True when `tokens` end in one block repeated back to back at least three times and over at
    least `min_span` tokens: the greedy loop a small model falls into ("The answer is: The answer
    is: ...", "1.1.1.1"). Decoding on would only repeat it until max_new_tokens."""
    n = len(tokens)
    for period in range(1, max_period + 1):
        times = max(3, -(-min_span // period))
        span = times * period
        if span > n:
            continue
        tail = tokens[n - span:]
        if all(tail[i] == tail[span - period + i % period] for i in range(span)):
            return True
    return False


def token_list(value: Any) -> list[int]:
    """Token ids as configs write them: None, one id, or a list of ids."""
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log_softmax over the last axis, in float32 as the models compute."""
    shifted = logits.astype(np.float32, copy=False) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sequence_logprob(runner: Runner, first_logits: np.ndarray, cache: Any, tokens: Sequence[int]) -> float:
    """log P(tokens | prompt) from the prompt's cache; the cache is left as it was."""
    logprob = float(log_softmax(first_logits)[tokens[0]])
    if len(tokens) > 1:
        steps = log_softmax(runner.score(cache, tokens[:-1]))
        logprob += float(sum(steps[i, t] for i, t in enumerate(tokens[1:])))
    return logprob


def greedy_decode(runner: Runner, ids: Sequence[int], max_new_tokens: int, eos_ids: Sequence[int], *,
                  constraint: SpanConstraint | None = None, refusal: Sequence[int] = (),
                  stop: Any = None, prefix: PrefixCache | None = None) -> Generator[int, None, Decoded]:
    """Yield generated token ids one by one; return the Decoded record.

    Args:
        runner: the model's forward passes.
        ids: the prompt's token ids.
        max_new_tokens: at most this many tokens.
        eos_ids: tokens that end the answer (the first is the one scored after the refusal).
        constraint: extractive mode; every step takes the best allowed token.
        refusal: token ids of the refusal sentence to score (empty: not scored).
        stop: callable(tokens) -> bool that ends decoding early (a greedy loop).
        prefix: the runner's cache of the last prompt: the opening shared with it is not
            prefilled again.
    """
    # 1. Prefill the prompt once, less the opening it shares with the last prompt.
    ids = list(ids)
    cache, shared = prefix.start(ids, runner) if prefix else (None, 0)
    logits, cache = runner.prefill(ids[shared:], cache)
    if prefix is not None:
        prefix.keep(ids, runner.snapshot(cache))
    # 2. Score the refusal from the same cache.
    refusal_logprob = sequence_logprob(runner, logits, cache, [*refusal, eos_ids[0]]) if refusal else None
    # 3. Greedy steps, masked to the allowed tokens in extractive mode.
    tokens: list[int] = []
    answer_logprob = 0.0
    for _ in range(max_new_tokens):
        logprobs = log_softmax(logits)
        if constraint is not None:
            allowed = np.array(sorted(constraint.allowed()), dtype=np.int64)
            token = int(allowed[int(np.argmax(logprobs[allowed]))])
        else:
            token = int(np.argmax(logprobs))
        answer_logprob += float(logprobs[token])
        if token in eos_ids:
            break
        if constraint is not None:
            constraint.advance(token)
        tokens.append(token)
        yield token
        if stop is not None and stop(tokens):
            break
        logits, cache = runner.prefill([token], cache)
    return Decoded(tuple(tokens), answer_logprob, refusal_logprob, constraint)
