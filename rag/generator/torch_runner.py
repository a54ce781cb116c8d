"""A transformers causal LM as a decoding `Runner` (rag.generator.decoding): forward passes
over a DynamicCache, logits handed over as NumPy arrays (no copy)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np


class TorchRunner:
    """Forward passes of `model` (a transformers causal LM, maybe a PEFT model).

    Args:
        model: takes `input_ids`, `past_key_values`, `use_cache`, `logits_to_keep`.
        adapter_off: run each pass with the PEFT adapter disabled, and only during the pass, so
            an answer abandoned midway never leaves it off for the adapter's other users.
    """

    def __init__(self, model: Any, adapter_off: bool = False) -> None:
        self.model = model
        self.adapter_off = adapter_off

    def _forward(self, ids: Sequence[int], cache: Any, keep: int) -> tuple[np.ndarray, Any]:
        import torch

        # Inference mode is entered per pass, never held across the decoder's `yield` (it is
        # thread state the consumer would run under).
        off = self.model.disable_adapter() if self.adapter_off else contextlib.nullcontext()
        with torch.inference_mode(), off:
            out = self.model(input_ids=torch.tensor([list(ids)], dtype=torch.long), past_key_values=cache,
                             use_cache=True, logits_to_keep=keep)
        return out.logits[0].float().numpy(), out.past_key_values

    def prefill(self, ids: Sequence[int], cache: Any) -> tuple[np.ndarray, Any]:
        # Only the last position's logits: the others would cost a vocabulary-sized projection each.
        logits, cache = self._forward(ids, cache, keep=1)
        return logits[-1], cache

    def score(self, cache: Any, tokens: Sequence[int]) -> np.ndarray:
        logits, cache = self._forward(tokens, cache, keep=0)
        cache.crop(-len(tokens))
        return logits

    def snapshot(self, cache: Any) -> Any:
        # Decoding extends a DynamicCache by concatenation, into new tensors, so these stay as
        # they are; `head` copies before handing them out.
        return [(layer.keys, layer.values) for layer in cache.layers]

    def head(self, snapshot: Any, length: int) -> Any:
        from transformers import DynamicCache

        layers = [(k[..., :length, :].clone(), v[..., :length, :].clone()) for k, v in snapshot]
        return DynamicCache(ddp_cache_data=layers, config=getattr(self.model, "config", None))
