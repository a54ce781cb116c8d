"""A local transformers causal LM: chat template, greedy decoding, streaming, an optional PEFT
LoRA adapter, and a stop for greedy loops."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.config import DEFAULT_GENERATOR_MODEL
from rag.errors import ModelLoadError
from rag.generator.base import Generation, Messages
from rag.generator.model_files import cached_gguf, default_cache_dir, resolve_generator_model


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


def _loop_stop(prompt_tokens: int) -> Any:
    """A transformers StoppingCriteria that ends generation once the answer is in a loop."""
    import torch
    from transformers import StoppingCriteria

    class LoopStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [ends_in_loop(row[prompt_tokens:].tolist()) for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return LoopStop()


class TransformersGenerator:
    """A local causal LM with its chat template, greedy decoding, optional PEFT LoRA adapter.

    Args:
        model: see `resolve_generator_model`.
        gguf_file: GGUF file name inside a model folder.
        adapter: folder of a PEFT LoRA adapter.
        merge_adapter: merge the adapter into the weights (faster decoding, cannot be unloaded).
        context_window: tokens of prompt + answer allowed.
        cache_dir: where dequantized GGUF weights are kept.
        threads: torch CPU threads (None keeps torch's default).
        stop_on_loop: end generation when the answer repeats one block over and over.

    Raises:
        ModelLoadError: model or adapter missing, or the adapter does not fit the model.
    """

    def __init__(self, model: str = DEFAULT_GENERATOR_MODEL, *, gguf_file: str | None = None,
                 adapter: str | None = None, merge_adapter: bool = False, context_window: int = 2048,
                 cache_dir: str | Path | None = None, threads: int | None = None,
                 stop_on_loop: bool = True) -> None:
        if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelLoadError(f"adapter {adapter!r} is not a PEFT adapter folder "
                                 "(no adapter_config.json there)")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        folder, gguf = resolve_generator_model(model, gguf_file)
        if gguf is not None:
            folder = cached_gguf(folder, gguf, Path(cache_dir) if cache_dir else default_cache_dir())
        started = time.perf_counter()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(folder))
        self.model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        self.model.eval()
        self.name = model
        self.adapter = adapter
        if adapter is not None:
            self.model = _attach_adapter(self.model, adapter, merge_adapter, model)
        limit = getattr(self.model.config, "max_position_embeddings", context_window)
        self.context_window = min(context_window, int(limit))
        self.load_seconds = time.perf_counter() - started
        self.stop_on_loop = stop_on_loop
        self._torch = torch

    def _encode(self, messages: Messages) -> dict[str, Any]:
        encoded: Any = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True)
        return dict(encoded)

    def count_prompt_tokens(self, messages: Messages) -> int:
        return int(self._encode(messages)["input_ids"].shape[1])

    def _generate(self, messages: Messages, max_new_tokens: int, streamer: Any) -> int:
        inputs = self._encode(messages)
        stops = [_loop_stop(int(inputs["input_ids"].shape[1]))] if self.stop_on_loop else []
        with self._torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                         streamer=streamer, pad_token_id=self.tokenizer.eos_token_id,
                                         stopping_criteria=stops or None)
        return int(output.shape[1] - inputs["input_ids"].shape[1])

    def generate(self, messages: Messages, max_new_tokens: int) -> Generation:
        started = time.perf_counter()
        stats: dict[str, int] = {}
        pieces: list[str] = []
        first: float | None = None
        for piece in self._stream(messages, max_new_tokens, stats):
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
        return Generation("".join(pieces).strip(), stats.get("tokens", 0), first,
                          stats.get("prompt_tokens", 0))

    def stream(self, messages: Messages, max_new_tokens: int,
               stats: dict[str, int] | None = None) -> Iterator[str]:
        return self._stream(messages, max_new_tokens, {} if stats is None else stats)

    def _stream(self, messages: Messages, max_new_tokens: int, stats: dict[str, int]) -> Iterator[str]:
        """Generate in a worker thread and yield decoded pieces; fills `stats` when done."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        stats["prompt_tokens"] = self.count_prompt_tokens(messages)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                stats["tokens"] = self._generate(messages, max_new_tokens, streamer)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for piece in streamer:
            if piece:
                yield piece
        worker.join()
        if errors:
            raise errors[0]


def _attach_adapter(model: Any, adapter: str, merge: bool, base_name: str) -> Any:
    """Load a PEFT LoRA adapter onto `model`; refuse one trained for another base model."""
    from peft import PeftModel

    config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    try:
        peft_model = PeftModel.from_pretrained(model, adapter)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelLoadError(
            f"adapter {adapter!r} does not fit generator {base_name!r} (it was made for "
            f"{config.get('base_model_name_or_path')!r}): {str(exc).splitlines()[0][:300]}") from exc
    peft_model.eval()
    return peft_model.merge_and_unload() if merge else peft_model
