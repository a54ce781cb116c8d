"""Reusing the prompt opening's keys and values between questions: on a small random Llama
(real transformers code, no weights to load) the reused decode equals a full prefill, only
the unshared tail is prefilled, and prompts sharing too little prefill in full."""

from __future__ import annotations

from typing import Any

import pytest

from rag.generator.decoding import greedy_decode
from rag.generator.prefix_cache import MIN_SHARED_TOKENS, PrefixCache
from rag.generator.torch_runner import TorchRunner

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def model() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


def prefilled_lengths(model: Any) -> tuple[list[int], Any]:
    """A list that records the length of every call's input_ids, and the hook's handle."""
    lengths: list[int] = []
    handle = model.model.embed_tokens.register_forward_hook(lambda _m, args, _o: lengths.append(args[0].shape[1]))
    return lengths, handle


def decode(model: Any, ids: list[int], prefix: PrefixCache | None, refusal: tuple[int, ...] = (5, 6)) -> Any:
    steps = greedy_decode(TorchRunner(model), ids, 12, [0], refusal=refusal, prefix=prefix)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def test_a_shared_opening_is_prefilled_once_and_answers_exactly_as_a_full_prefill(model: Any) -> None:
    opening = list(range(10, 40))  # 30 tokens, like a system turn and instructions
    first, second = opening + [41, 42, 43, 44], opening + [50, 51, 52]
    prefix = PrefixCache()
    lengths, handle = prefilled_lengths(model)
    try:
        decode(model, first, prefix)
        lengths.clear()
        reused = decode(model, second, prefix)
        assert lengths[0] == 3  # only the unshared tail
    finally:
        handle.remove()
    full = decode(model, second, None)
    assert reused.tokens == full.tokens
    assert reused.answer_logprob == pytest.approx(full.answer_logprob, abs=1e-4)
    assert reused.refusal_logprob == pytest.approx(full.refusal_logprob, abs=1e-4)


def test_the_same_prompt_twice_leaves_one_token_to_prefill_and_decodes_the_same(model: Any) -> None:
    ids = list(range(10, 50))
    prefix = PrefixCache()
    first = decode(model, ids, prefix)
    lengths, handle = prefilled_lengths(model)
    try:
        again = decode(model, ids, prefix)
    finally:
        handle.remove()
    assert lengths[0] == 1 and again.tokens == first.tokens


def test_a_prompt_sharing_too_little_prefills_in_full(model: Any) -> None:
    prefix = PrefixCache()
    decode(model, list(range(10, 40)), prefix)
    other = list(range(10, 10 + MIN_SHARED_TOKENS - 1)) + [90, 91, 92]
    cache, shared = prefix.start(other, TorchRunner(model))
    assert (cache, shared) == (None, 0)
    lengths, handle = prefilled_lengths(model)
    try:
        assert decode(model, other, prefix).tokens == decode(model, other, None).tokens
    finally:
        handle.remove()
    assert lengths[0] == len(other)


def test_a_handed_out_cache_is_a_copy(model: Any) -> None:
    prefix = PrefixCache()
    ids = list(range(10, 40))
    decode(model, ids, prefix)
    cache, shared = prefix.start(ids + [60], TorchRunner(model))
    assert shared == len(ids)
    cache.layers[0].keys.zero_()
    again, _ = prefix.start(ids + [61], TorchRunner(model))
    assert again.layers[0].keys.abs().sum() > 0  # what the first caller did is not seen
