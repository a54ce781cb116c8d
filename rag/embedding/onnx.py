"""A sentence-transformers model (MiniLM by default) on ONNX Runtime: the same vectors as
PyTorch (cosine >= 0.9999 on real text, tested) for less CPU time per chunk.

The ONNX graph is exported once from the model folder by PyTorch (`SentenceTransformerEmbedder.
export_onnx`) into the model cache, keyed by the weights' content and the exporter's version;
later processes load it without importing torch or sentence-transformers. Tokenizing uses the
folder's tokenizer.json (the `tokenizers` library), truncated to the model's token limit.
Only this module imports onnxruntime.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.base import DEFAULT_EMBEDDING_MODEL, read_json
from rag.embedding.pytorch import SentenceTransformerEmbedder
from rag.errors import ModelLoadError
from rag.model_cache import content_key, default_cache_dir, write_atomically

log = logging.getLogger(__name__)
EXPORT_VERSION = "mean-pooled-eager-fused-v1"  # bump when the exported graph changes


class OnnxEmbedder(SentenceTransformerEmbedder):
    """The model's network on ONNX Runtime (CPU); name, dimension, token limit and token
    counting as in SentenceTransformerEmbedder, so an index does not care which one embedded it.

    Args:
        model: the packaged model's name or a local sentence-transformers folder.
        batch_size: texts per forward pass.
        cache_dir: where exported graphs are kept (default ~/.cache/localrag/models).

    Raises:
        ModelLoadError: the model cannot be found, or has no tokenizer.json / safetensors weights.
            An export that fails (a model of another shape, no onnx package) is not an error:
            PyTorch embeds instead, with a warning, and `fallback` is True.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32,
                 cache_dir: str | Path | None = None) -> None:
        super().__init__(model, batch_size)
        weights = self.folder / "model.safetensors"
        if not (self.folder / "tokenizer.json").is_file() or not weights.is_file():
            raise ModelLoadError(f"embedding model {self.name!r} has no tokenizer.json or model.safetensors "
                                 "in its folder: the ONNX backend cannot use it")
        cache = Path(cache_dir) if cache_dir else default_cache_dir()
        self.graph = cache / f"embedder-{self.folder.name}-{content_key(weights, EXPORT_VERSION)}.onnx"
        self._session: Any = None
        self._encoder: Any = None
        self.fallback = False  # True once the export failed: PyTorch embeds

    def load(self) -> None:
        if self._onnx() is None:
            super().load()

    def _onnx(self) -> Any:
        """The inference session, exporting the graph first when the cache lacks it; None when
        the export failed, and PyTorch embeds instead (the same vectors, slower)."""
        if self._session is None and not self.fallback:
            if not self.graph.is_file():
                try:
                    self._export()
                except (ModelLoadError, OSError) as exc:  # OSError: an unwritable cache
                    log.warning("embedding with PyTorch instead of ONNX Runtime: %s", exc)
                    self.fallback = True
                    return None
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])
        return self._session

    def _export(self) -> None:
        log.warning("exporting embedding model %s to ONNX once (a few seconds); cached in %s",
                    self.name, self.graph.parent)
        write_atomically(self.graph, self._export_fused)
        self._model = None  # the PyTorch network was only needed for the export

    def _export_fused(self, graph: Path) -> None:
        self.export_onnx(graph)
        self._fuse(graph)

    def _fuse(self, graph: Path) -> None:
        """Fuse attention, GELU and layer norms with ONNX Runtime's transformer optimizer
        (BERT-style models); the plain graph is kept when it cannot."""
        config = read_json(self.folder / "config.json")
        if config.get("model_type") not in ("bert", "roberta", "xlm-roberta", "mpnet"):
            return
        try:
            from onnxruntime.transformers.optimizer import optimize_model

            fused = optimize_model(str(graph), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                   hidden_size=int(config["hidden_size"]), opt_level=1)
            fused.save_model_to_file(str(graph))
        except Exception as exc:  # noqa: BLE001 - an optimisation only
            log.warning("ONNX graph of %s left unfused: %s: %s", self.name, type(exc).__name__, exc)

    def _batch_encoder(self) -> Any:
        if self._encoder is None:
            from tokenizers import Tokenizer

            encoder = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
            encoder.enable_truncation(self.max_tokens)
            pad = encoder.padding or {}
            encoder.enable_padding(pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]")))
            self._encoder = encoder
        return self._encoder

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self._onnx()
        if session is None:
            return super().embed_documents(texts, progress)
        encoder = self._batch_encoder()
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths batch together
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            chosen = order[start:start + self.batch_size]
            encoded = encoder.encode_batch([texts[i] for i in chosen])
            feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64)}
            vectors[chosen] = session.run(None, feed)[0]
        return vectors
