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
from rag.errors import ConfigError, ModelLoadError
from rag.generator.base import Decoding, Messages, StreamReport
from rag.generator.decoding import ends_in_loop, token_list
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
from rag.generator.streaming import LocalGenerator, stream_answer
from rag.generator.torch_runner import TorchRunner


def answer_token_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of an answer as the model emits it after the assistant header.

    The leading space makes an answer's tokens those of the same words inside a chunk
    (" Norman", not "Nor"+"man"), so a fine-tuned short answer is also an extractive span.
    Training targets and the scored refusal use this same form.
    """
    return list(tokenizer.encode(" " + text.strip(), add_special_tokens=False))


class TransformersGenerator(LocalGenerator):
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
        self.eos_ids = [eos] + [t for t in token_list(self.model.generation_config.eos_token_id) if t != eos]

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
            ConfigError: no adapter to switch off.
        """
        if not self.can_disable_adapter:
            raise ConfigError(f"generator {self.name!r} has no adapter to switch off")
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

    def count_prompt_tokens(self, messages: Messages) -> int:
        return len(HFCodec(self.tokenizer).chat_ids(messages))

    def _stream(self, messages: Messages, max_new_tokens: int, report: StreamReport,
                decoding: Decoding) -> Iterator[str]:
        prefix = None if self._prefixes is None else \
            self._prefixes.setdefault((id(self.model), self.adapter_off), PrefixCache())
        return stream_answer(HFCodec(self.tokenizer), TorchRunner(self.model, self.adapter_off), messages,
                             max_new_tokens, report, decoding, self.eos_ids, prefix,
                             ends_in_loop if self.stop_on_loop else None)


class HFCodec:
    """A transformers tokenizer as a `TextCodec` (rag.generator.streaming)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def chat_ids(self, messages: Messages) -> list[int]:
        encoded: Any = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True)
        return [int(t) for t in encoded["input_ids"][0].tolist()]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(encoded["input_ids"]), [(int(a), int(b)) for a, b in encoded["offset_mapping"]]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))
