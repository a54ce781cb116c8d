"""The reader's network on ONNX Runtime (the default) or PyTorch (the fallback).

The graph is exported once from the reader folder into the model cache, keyed by the weights'
content and the exporter's version, and fused with ONNX Runtime's BERT optimizer; later
processes load it without importing torch or transformers. When the export fails, PyTorch
reads instead, with a warning (`fallback` is True).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ModelLoadError
from rag.model_cache import content_key, default_cache_dir, write_atomically

log = logging.getLogger(__name__)
EXPORT_VERSION = "reader-qa-logits-fused-v1"  # bump when the exported graph changes
BACKENDS = ("onnx", "torch")


class ReaderNetwork(Protocol):
    def logits(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(start_logits, end_logits), each [windows, tokens], of one batch of windows."""
        ...


class OnnxReaderNetwork:
    """The exported graph on ONNX Runtime's CPU provider."""

    def __init__(self, folder: Path, cache_dir: str | Path | None = None, threads: int | None = None) -> None:
        weights = folder / "model.safetensors"
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        self.graph = cache / f"reader-{folder.name}-{content_key(weights, EXPORT_VERSION)}.onnx"
        if not self.graph.is_file():
            log.warning("exporting reader %s to ONNX once (a few seconds); cached in %s", folder.name, cache)
            write_atomically(self.graph, lambda path: _export_fused(folder, path))
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])

    def logits(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        start, end = self._session.run(["start_logits", "end_logits"], inputs)
        return start, end


def _export_fused(folder: Path, graph: Path) -> None:
    from rag.answer.reader.torch_network import export_onnx

    export_onnx(folder, graph)
    try:
        import json

        from onnxruntime.transformers.optimizer import optimize_model

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        fused = optimize_model(str(graph), model_type="bert", num_heads=int(config["num_attention_heads"]),
                               hidden_size=int(config["hidden_size"]), opt_level=1)
        fused.save_model_to_file(str(graph))
    except Exception as exc:  # noqa: BLE001 - an optimisation only
        log.warning("reader ONNX graph left unfused: %s: %s", type(exc).__name__, exc)


def open_network(folder: Path, backend: str = "onnx", cache_dir: str | Path | None = None,
                 threads: int | None = None) -> tuple[Any, bool]:
    """(the network, whether it fell back to PyTorch) for `backend` ("onnx" or "torch")."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"reader backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "onnx":
        try:
            return OnnxReaderNetwork(folder, cache_dir, threads), False
        except (ModelLoadError, OSError, ImportError) as exc:
            log.warning("reading with PyTorch instead of ONNX Runtime: %s", exc)
    from rag.answer.reader.torch_network import TorchReaderNetwork

    return TorchReaderNetwork(folder, threads), backend == "onnx"
