"""A local transformers causal LM: chat template, greedy decoding (free or extractive), an
optional PEFT LoRA adapter, the refusal margin's log-probabilities, and a stop for greedy loops."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_GENERATOR_MODEL
from rag.errors import ModelLoadError
from rag.generator.base import Decoding, Generation, Messages
from rag.generator.constraints import SpanConstraint
from rag.generator.decoding import greedy_decode
from rag.generator.model_files import (
    attach_adapter,
    cached_gguf,
    default_cache_dir,
    keep_merged,
    merged_folder,
    resolve_generator_model,
    used_merged,
)
from rag.generator.prefix_cache import PrefixCache


def ends_in_loop(tokens: Sequence[int], min_span: int = 12, max_period: int = 40) -> bool:
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


def answer_token_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of an answer as the model emits it after the assistant header.

    The leading space makes an answer's tokens those of the same words inside a chunk
    (" Norman", not "Nor"+"man"), so a fine-tuned short answer is also an extractive span.
    Training targets and the scored refusal use this same form.
    """
    return list(tokenizer.encode(" " + text.strip(), add_special_tokens=False))


class TransformersGenerator:
    """A local causal LM with its chat template, greedy decoding, optional PEFT LoRA adapter.

    Args:
        model: see `resolve_generator_model`.
        gguf_file: GGUF file name inside a model folder.
        adapter: folder of a PEFT LoRA adapter.
        merge_adapter: merge the adapter into the weights: about 11 % faster per answer. Switching
            it off (`without_adapter`) then loads a second copy of the base weights.
        context_window: tokens of prompt + answer allowed.
        cache_dir: where dequantized GGUF weights are kept.
        threads: torch CPU threads (None keeps torch's default).
        stop_on_loop: end generation when the answer repeats one block over and over.
        prefix_cache: reuse the keys and values of the opening a prompt shares with the last
            one (the system turn and instructions) instead of prefilling them again.

    Raises:
        ModelLoadError: model or adapter missing, or the adapter does not fit the model.
    """

    def __init__(self, model: str = DEFAULT_GENERATOR_MODEL, *, gguf_file: str | None = None,
                 adapter: str | None = None, merge_adapter: bool = True, context_window: int = 2048,
                 cache_dir: str | Path | None = None, threads: int | None = None,
                 stop_on_loop: bool = True, prefix_cache: bool = True) -> None:
        if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelLoadError(f"adapter {adapter!r} is not a PEFT adapter folder "
                                 "(no adapter_config.json there)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        folder, gguf = resolve_generator_model(model, gguf_file)
        if gguf is not None:
            folder = cached_gguf(folder, gguf, cache)
        started = time.perf_counter()
        self.model_folder = folder
        self.name = model
        self.adapter = adapter
        self.merged = adapter is not None and merge_adapter
        merged = merged_folder(folder, adapter, cache) if self.merged and adapter is not None else None
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(folder))
        if merged is not None and (merged / "config.json").is_file():
            self.model: Any = AutoModelForCausalLM.from_pretrained(str(used_merged(merged)),
                                                                   dtype=torch.float32).eval()
        else:
            self.model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
            if adapter is not None:
                self.model = attach_adapter(self.model, adapter, merge_adapter, model)
            if merged is not None:
                keep_merged(self.model, merged)
        limit = getattr(self.model.config, "max_position_embeddings", context_window)
        self.context_window = min(context_window, int(limit))
        self.load_seconds = time.perf_counter() - started
        self.stop_on_loop = stop_on_loop
        self.adapter_off = False
        # Shared with the views `without_adapter` makes (a shallow copy shares these objects):
        # one prefix cache per model and adapter state, and a merged adapter's base weights.
        self._prefixes: dict[tuple[int, bool], PrefixCache] | None = {} if prefix_cache else None
        self._base: dict[str, Any] = {}
        self._base_lock = threading.Lock()
        eos = self.tokenizer.eos_token_id
        self.eos_ids = [eos] + [t for t in _as_list(self.model.generation_config.eos_token_id) if t != eos]

    @property
    def can_disable_adapter(self) -> bool:
        """Whether a LoRA adapter is loaded, which `without_adapter` can switch off."""
        return self.adapter is not None and (self.merged or hasattr(self.model, "disable_adapter"))

    def without_adapter(self) -> TransformersGenerator:
        """This generator with its adapter switched off. An unmerged adapter is disabled
        around each decoding step, sharing the weights; a merged one cannot be, so the view
        holds a copy of the base weights, loaded once (about 0.5 s and 0.5 GB) and shared by
        every such view.

        Raises:
            ValueError: no adapter to switch off.
        """
        if not self.can_disable_adapter:
            raise ValueError(f"generator {self.name!r} has no adapter to switch off")
        view = copy.copy(self)  # shallow: the same model, tokenizer and shared caches
        view.adapter = None
        if self.merged:
            view.model, view.merged = self._base_model(), False
        else:
            view.adapter_off = True
        return view

    def _base_model(self) -> Any:
        with self._base_lock:
            if "model" not in self._base:
                import torch
                from transformers import AutoModelForCausalLM

                self._base["model"] = AutoModelForCausalLM.from_pretrained(
                    str(self.model_folder), dtype=torch.float32).eval()
            return self._base["model"]

    def _encode(self, messages: Messages) -> dict[str, Any]:
        encoded: Any = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True)
        return dict(encoded)

    def count_prompt_tokens(self, messages: Messages) -> int:
        return int(self._encode(messages)["input_ids"].shape[1])

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        started = time.perf_counter()
        stats: dict[str, Any] = {}
        pieces: list[str] = []
        first: float | None = None
        for piece in self._stream(messages, max_new_tokens, stats, Decoding()):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
        return Generation("".join(pieces).strip(), stats.get("tokens", 0), first,
                          stats.get("prompt_tokens", 0))

    def stream(self, messages: Messages, max_new_tokens: int, stats: dict[str, Any] | None = None,
               decoding: Decoding | None = None) -> Iterator[str]:
        return self._stream(messages, max_new_tokens, {} if stats is None else stats,
                            decoding or Decoding())

    def _stream(self, messages: Messages, max_new_tokens: int, stats: dict[str, Any],
                decoding: Decoding) -> Iterator[str]:
        """Decode greedily and yield text pieces; fills `stats` when done (see Generator)."""
        input_ids = self._encode(messages)["input_ids"]
        stats["prompt_tokens"] = int(input_ids.shape[1])
        refusal = answer_token_ids(self.tokenizer, decoding.refusal) if decoding.refusal else []
        spans = [self.tokenizer(t, add_special_tokens=False, return_offsets_mapping=True)
                 for t in decoding.spans]
        constraint = SpanConstraint([s["input_ids"] for s in spans], refusal, self.eos_ids) \
            if decoding.spans else None
        prefix = None if self._prefixes is None else \
            self._prefixes.setdefault((id(self.model), self.adapter_off), PrefixCache())
        steps = greedy_decode(self.model, input_ids, max_new_tokens, self.eos_ids, constraint=constraint,
                              refusal=refusal, stop=ends_in_loop if self.stop_on_loop else None, prefix=prefix)
        if self.adapter_off:
            steps = _adapter_disabled(self.model, steps)
        tokens: list[int] = []
        shown = ""
        while True:
            try:
                tokens.append(next(steps))
            except StopIteration as finished:
                decoded = finished.value
                break
            text = self.tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
            if text.startswith(shown) and len(text) > len(shown) and not text.endswith("\ufffd"):
                yield text[len(shown):]
                shown = text
        text = self.tokenizer.decode(tokens, skip_special_tokens=True).lstrip()
        if text.startswith(shown) and len(text) > len(shown):
            yield text[len(shown):]
        stats.update(tokens=len(decoded.tokens), answer_logprob=decoded.answer_logprob,
                     refusal_logprob=decoded.refusal_logprob)
        match = constraint.match() if constraint is not None else None
        if match is not None:
            offsets = spans[match.text_index]["offset_mapping"]
            stats["span"] = (match.text_index, int(offsets[match.token_start][0]),
                             int(offsets[match.token_end - 1][1]))


def _adapter_disabled(model: Any, steps: Iterator[int]) -> Any:
    """`steps` with the adapter disabled during each decoding step only, so a stream abandoned
    midway never leaves it off for the adapter's other users."""
    while True:
        with model.disable_adapter():
            try:
                token = next(steps)
            except StopIteration as done:
                return done.value
        yield token


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
