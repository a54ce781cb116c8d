"""Greedy decoding with a KV cache, one token at a time: the loop behind TransformersGenerator.

Owning the loop, rather than calling `model.generate`, lets one prefill serve three needs:
(1) an extractive constraint masks each step to verbatim spans of the chunks; (2) the
log-probability of every chosen token is kept, under the model's own (unconstrained)
distribution; (3) the refusal sentence is scored from the same prefill, so the refusal margin
costs a few tokens of compute rather than a second pass over the prompt.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from rag.generator.constraints import SpanConstraint
from rag.generator.prefix_cache import PrefixCache


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


def sequence_logprob(model: Any, first_logits: Any, cache: Any, tokens: Sequence[int]) -> float:
    """log P(tokens | prompt) from the prompt's cache; the cache is left as it was."""
    import torch

    logprob = float(torch.log_softmax(first_logits.float(), dim=-1)[tokens[0]])
    if len(tokens) > 1:
        feed = torch.tensor([list(tokens[:-1])], dtype=torch.long)
        out = model(input_ids=feed, past_key_values=cache, use_cache=True)
        steps = torch.log_softmax(out.logits[0].float(), dim=-1)
        logprob += float(sum(steps[i, t] for i, t in enumerate(tokens[1:])))
        cache.crop(-(len(tokens) - 1))
    return logprob


def greedy_decode(model: Any, input_ids: Any, max_new_tokens: int, eos_ids: Sequence[int], *,
                  constraint: SpanConstraint | None = None, refusal: Sequence[int] = (),
                  stop: Any = None, prefix: PrefixCache | None = None) -> Generator[int, None, Decoded]:
    """Yield generated token ids one by one; return the Decoded record.

    Args:
        model: a causal LM taking `input_ids`, `past_key_values`, `use_cache`.
        input_ids: the prompt, shape (1, n).
        max_new_tokens: at most this many tokens.
        eos_ids: tokens that end the answer (the first is the one scored after the refusal).
        constraint: extractive mode; every step takes the best allowed token.
        refusal: token ids of the refusal sentence to score (empty: not scored).
        stop: callable(tokens) -> bool that ends decoding early (a greedy loop).
        prefix: the model's cache of the last prompt: the opening shared with it is not
            prefilled again.
    """
    import torch

    # Inference mode is entered per model call, never held across a `yield` (it is thread state
    # the consumer would run under).
    with torch.inference_mode():
        # 1. Prefill the prompt once, less the opening it shares with the last prompt; only the
        # last position's logits are needed (the others would cost a vocabulary-sized
        # projection per prompt token).
        ids = input_ids[0].tolist()
        cache, shared = prefix.start(ids, getattr(model, "config", None)) if prefix else (None, 0)
        out = model(input_ids=input_ids[:, shared:], past_key_values=cache, use_cache=True, logits_to_keep=1)
        cache, logits = out.past_key_values, out.logits[0, -1]
        if prefix is not None:
            prefix.keep(ids, cache)
        # 2. Score the refusal from the same cache, then roll the cache back.
        refusal_logprob = (sequence_logprob(model, logits, cache, [*refusal, eos_ids[0]])
                           if refusal else None)
    # 3. Greedy steps, masked to the allowed tokens in extractive mode.
    tokens: list[int] = []
    answer_logprob = 0.0
    for _ in range(max_new_tokens):
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        if constraint is not None:
            allowed = torch.tensor(sorted(constraint.allowed()), dtype=torch.long)
            token = int(allowed[int(torch.argmax(logprobs[allowed]))])
        else:
            token = int(torch.argmax(logprobs))
        answer_logprob += float(logprobs[token])
        if token in eos_ids:
            break
        if constraint is not None:
            constraint.advance(token)
        tokens.append(token)
        yield token
        if stop is not None and stop(tokens):
            break
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([[token]]), past_key_values=cache, use_cache=True)
        logits = out.logits[0, -1]
    return Decoded(tuple(tokens), answer_logprob, refusal_logprob, constraint)
