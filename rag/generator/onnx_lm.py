"""A local causal LM on ONNX Runtime: the same greedy decoding, extractive constraint, refusal
margin and prefix cache as the PyTorch backend (one loop, rag.generator.streaming), on a graph
exported once per model and adapter, so a process answering questions imports neither torch nor
transformers.

Loading: (1) the GGUF is dequantized once (model_files); (2) an adapter is merged into those
weights once and cached (model_files); (3) the merged weights are exported once to ONNX
(onnx_export) and checked against transformers; (4) later processes load only the graph, the
tokenizer.json and the chat template. Steps 1-3 import torch; step 4 does not.
Only this module imports onnxruntime for the generator.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import DEFAULT_GENERATOR_MODEL
from rag.errors import ConfigError, ModelLoadError
from rag.generator.base import Decoding, Messages, StreamReport
from rag.generator.chat_codec import ChatCodec
from rag.generator.decoding import ends_in_loop, token_list
from rag.generator.model_files import (
    build_merged,
    cached_gguf,
    merged_folder,
    resolve_generator_model,
    used_merged,
)
from rag.generator.onnx_export import EXPORT_VERSION, UnsupportedModel, llama_settings_of
from rag.generator.onnx_runner import Lanes, OnnxRunner
from rag.generator.prefix_cache import PrefixCache
from rag.generator.streaming import LocalGenerator, stream_answer
from rag.model_cache import content_key, default_cache_dir, write_atomically

log = logging.getLogger(__name__)
GRAPHS_KEPT = 3  # exported generator graphs kept in the cache (base, merged, one more)
# Largest logit difference from transformers accepted, as a share of the largest logit: float32
# sums in another order differ by far less, a wrongly wired graph by whole units.
AGREEMENT = 1e-3


class OnnxGenerator(LocalGenerator):
    """The model (with its LoRA adapter merged in) on ONNX Runtime; arguments as
    TransformersGenerator's, less `merge_adapter` (always merged), plus `lanes`: how many
    answers it runs at once (rag/generator/onnx_runner.py); a caller such as `rag serve` lets
    that many in.

    Raises:
        UnsupportedModel: not a plain Llama model, an adapter on weights that are not one
            safetensors file, or no graph could be exported or cached: the PyTorch backend
            takes these.
        ModelLoadError: model or adapter missing, or the adapter does not fit the model.
    """

    def __init__(self, model: str = DEFAULT_GENERATOR_MODEL, *, gguf_file: str | None = None,
                 adapter: str | None = None, context_window: int = 2048, cache_dir: str | Path | None = None,
                 threads: int | None = None, stop_on_loop: bool = True, prefix_cache: bool = True,
                 lanes: int = 1) -> None:
        if adapter is not None and not (Path(adapter) / "adapter_config.json").is_file():
            raise ModelLoadError(f"adapter {adapter!r} is not a PEFT adapter folder "
                                 "(no adapter_config.json there)")
        started = time.perf_counter()
        self.cache = Path(cache_dir) if cache_dir else default_cache_dir()
        folder, gguf = resolve_generator_model(model, gguf_file)
        self.model_folder = cached_gguf(folder, gguf, self.cache) if gguf is not None else folder
        self.name, self.adapter, self.merged, self.threads = model, adapter, adapter is not None, threads
        config = json.loads((self.model_folder / "config.json").read_text(encoding="utf-8"))
        self.settings = llama_settings_of(config)
        self.lanes = Lanes(lanes)  # shared with the views `without_adapter` makes
        self.runner = self._runner(adapter)
        self.codec = ChatCodec(self.model_folder)
        self.context_window = min(context_window, int(config.get("max_position_embeddings") or context_window))
        generation = self.model_folder / "generation_config.json"
        extra = json.loads(generation.read_text(encoding="utf-8")).get("eos_token_id") if generation.is_file() else None
        self.eos_ids = [t for t in dict.fromkeys([self.codec.eos_id, *token_list(extra)]) if t is not None]
        if not self.eos_ids:
            raise ModelLoadError(f"generator {model!r} names no end-of-sequence token")
        self.stop_on_loop = stop_on_loop
        self._prefixes: dict[int, PrefixCache] | None = {} if prefix_cache else None
        self._base: dict[str, OnnxRunner] = {}  # shared with the views `without_adapter` makes
        self._base_lock = threading.Lock()
        self.load_seconds = time.perf_counter() - started

    def _runner(self, adapter: str | None) -> OnnxRunner:
        """The runner of the base model's graph, or of the graph with `adapter` merged in."""
        if adapter is None:
            return self._runner_of(self._graph_of(self.model_folder), lambda: self.model_folder)
        merged = merged_folder(self.model_folder, adapter, self.cache)
        if merged is None:
            raise UnsupportedModel(f"generator {self.name!r}: its weights are not one model.safetensors, "
                                   "so the adapter cannot be merged and cached")

        def weights() -> Path:
            if (merged / "config.json").is_file():
                return used_merged(merged)
            if build_merged(self.model_folder, adapter, merged, self.name) is None:
                raise UnsupportedModel(f"could not cache the merged adapter in {str(merged)!r}")
            return merged

        # Named after the merged weights' key (base and adapter contents): a cached graph loads
        # without the merged weights, which may have been evicted since.
        return self._runner_of(self.cache / f"{merged.name}-{_export_key()}.lm.onnx", weights)

    def _graph_of(self, weights: Path) -> Path:
        source = weights / "model.safetensors"
        if not source.is_file():
            raise UnsupportedModel(f"model folder {str(weights)!r} has no single model.safetensors to export")
        return self.cache / f"{weights.name}-{content_key(source, _export_key())}.lm.onnx"

    def _runner_of(self, graph: Path, weights: Callable[[], Path]) -> OnnxRunner:
        """The runner of `graph`, exported from `weights()` when the cache lacks it; with lanes,
        its second session (a share of the threads each) is opened when first needed."""
        self._ensure_graph(graph, weights)
        lane_threads = max(1, (self.threads or os.cpu_count() or 1) // self.lanes.count)
        return OnnxRunner(self._session(graph, self.threads), self.settings, self.lanes,
                          (lambda: self._session(graph, lane_threads)) if self.lanes.count > 1 else None)

    def _ensure_graph(self, graph: Path, weights: Callable[[], Path]) -> None:
        if graph.is_file():
            with contextlib.suppress(OSError):
                os.utime(graph)  # what eviction goes by
        else:
            source = weights()  # an adapter that does not fit the model is an error of its own
            try:
                _export(source, graph, self.settings)
            except (ModelLoadError, OSError) as exc:  # OSError: an unwritable cache
                raise UnsupportedModel(f"no ONNX graph of {source.name!r}: {exc}") from exc

    def _session(self, graph: Path, threads: int | None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # The basic optimizations load faster than all of them, and all decoded no faster in trials.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def lane_count(self) -> int:
        """Answers this generator runs at once (its lanes)."""
        return self.lanes.count

    def open_lanes(self) -> None:
        """Open the session answers run on while several run at once, now rather than when
        the second one arrives (a no-op with one lane)."""
        if self.lanes.count > 1:
            self.runner.lane_session()

    @property
    def can_disable_adapter(self) -> bool:
        """Whether a LoRA adapter is merged in, which `without_adapter` can switch off."""
        return self.adapter is not None

    def without_adapter(self) -> OnnxGenerator:
        """This generator on the base weights' graph (exported and loaded once, shared by every
        such view).

        Raises:
            ConfigError: no adapter to switch off.
        """
        if not self.can_disable_adapter:
            raise ConfigError(f"generator {self.name!r} has no adapter to switch off")
        with self._base_lock:
            if "runner" not in self._base:
                self._base["runner"] = self._runner(None)
        view = copy.copy(self)  # shallow: the same codec and shared caches
        view.adapter, view.merged, view.runner = None, False, self._base["runner"]
        return view

    def count_prompt_tokens(self, messages: Messages) -> int:
        return len(self.codec.chat_ids(messages))

    def _stream(self, messages: Messages, max_new_tokens: int, report: StreamReport,
                decoding: Decoding) -> Iterator[str]:
        prefix = None if self._prefixes is None else self._prefixes.setdefault(id(self.runner), PrefixCache())
        with self.lanes.answering():
            yield from stream_answer(self.codec, self.runner, messages, max_new_tokens, report, decoding,
                                     self.eos_ids, prefix, ends_in_loop if self.stop_on_loop else None)


def _export_key() -> str:
    """What a graph depends on besides the weights: the export code and the exporter."""
    return hashlib.sha256(f"{EXPORT_VERSION}:{version('torch')}".encode()).hexdigest()[:12]


def _export(weights: Path, graph: Path, settings: dict[str, Any]) -> None:
    """Export through a staging file renamed into place, check it, and evict old graphs."""
    from rag.generator.onnx_export import export_llama

    log.warning("exporting %s to ONNX once (about 20 s); cached in %s", weights.name, graph.parent)

    def export_checked(staging: Path) -> None:
        sample, expected = export_llama(weights, staging)
        _check_agreement(staging, sample, expected, settings, graph.name)

    write_atomically(graph, export_checked)
    graphs = sorted(graph.parent.glob("*.lm.onnx"), key=lambda p: p.stat().st_mtime)
    for old in graphs[:-GRAPHS_KEPT]:
        old.unlink(missing_ok=True)


def _check_agreement(graph: Path, sample: np.ndarray, expected: np.ndarray, settings: dict[str, Any],
                     name: str) -> None:
    import onnxruntime as ort

    runner = OnnxRunner(ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"]), settings)
    logits = runner.score(None, sample[0].tolist())
    gap = float(np.abs(logits - expected).max() / max(float(np.abs(expected).max()), 1e-6))
    if gap > AGREEMENT:
        raise ModelLoadError(f"the ONNX export {name!r} disagrees with transformers by {gap:.2e} of the "
                             f"largest logit (at most {AGREEMENT:g} accepted)")
