"""The sentence-transformers embedder on PyTorch, plus what the ONNX embedder (rag.embedding.onnx)
reuses of it: the model folder's settings and the mean-pooled network it exports.

Only this module imports sentence-transformers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding.base import DEFAULT_EMBEDDING_MODEL, model_name, read_json, resolve_embedding_model
from rag.errors import ModelLoadError

log = logging.getLogger(__name__)


class SentenceTransformerEmbedder:
    """sentence-transformers on CPU, normalized vectors, batched, offline.

    Loading is lazy: name, dimension and token limit are read from the model folder's
    config files, token counting uses its tokenizer.json, and the network itself is loaded
    on the first embed call, so a no-op re-ingest does not pay for importing torch.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 32) -> None:
        self.folder = resolve_embedding_model(model)
        self.name = model_name(model)
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        pooling = read_json(self.folder / "1_Pooling" / "config.json")
        limits = read_json(self.folder / "sentence_bert_config.json")
        if pooling.get("word_embedding_dimension") and limits.get("max_seq_length"):
            self.dimension = int(pooling["word_embedding_dimension"])
            self.max_tokens = int(limits["max_seq_length"])
        else:  # not a standard sentence-transformers folder: ask the model itself
            model_obj = self._load()
            self.dimension = int(model_obj.get_sentence_embedding_dimension() or 0)
            self.max_tokens = int(model_obj.max_seq_length)

    def load(self) -> None:
        """Load the network now (otherwise the first embed call pays for it)."""
        self._load()

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
            except Exception as exc:  # noqa: BLE001 - any load failure is reported the same way
                raise ModelLoadError(f"cannot load embedding model {self.name!r} from "
                                     f"{self.folder}: {exc}") from exc
        return self._model

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            if (self.folder / "tokenizer.json").is_file():
                from tokenizers import Tokenizer

                self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
                self._tokenizer.no_truncation()
                self._tokenizer.no_padding()
            else:
                hf = self._load().tokenizer
                self._tokenizer = hf
        if hasattr(self._tokenizer, "encode_batch"):  # tokenizers.Tokenizer
            return len(self._tokenizer.encode(text, add_special_tokens=True).ids)
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False,
                                   verbose=False)["input_ids"])

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load().encode(list(texts), batch_size=self.batch_size,
                                      normalize_embeddings=True, show_progress_bar=progress,
                                      convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def export_onnx(self, target: Path) -> None:
        """Write the network, mean pooling and normalisation included, as one ONNX graph taking
        input_ids, attention_mask and token_type_ids and giving the sentence vectors. The
        loaded network is switched to eager attention for the export (same results).

        Raises:
            ModelLoadError: the model is not a BERT-style Transformer + mean Pooling (+ Normalize)
                stack, or the export fails (it needs the onnx package).
        """
        import torch

        model = self._load()
        kinds = [type(m).__name__ for m in model]
        pooling = read_json(self.folder / "1_Pooling" / "config.json")
        if kinds[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens") \
                or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
            raise ModelLoadError(f"embedding model {self.name!r} ({' -> '.join(kinds)}) is not a "
                                 "Transformer + mean Pooling stack: no ONNX export")
        transformer = model[0].auto_model
        if hasattr(transformer, "set_attn_implementation"):
            transformer.set_attn_implementation("eager")  # a graph ONNX Runtime fuses into Attention ops
        pooled = _mean_pooled(transformer)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        sample = torch.ones(2, 8, dtype=torch.long)
        axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"embedding": {0: "batch"}}
        try:
            with torch.no_grad():
                torch.onnx.export(pooled, (sample, torch.ones_like(sample), torch.zeros_like(sample)), str(target),
                                  input_names=names, output_names=["embedding"], dynamic_axes=axes,
                                  opset_version=17, dynamo=False)
        except Exception as exc:  # noqa: BLE001 - reported as a load failure; the caller falls back
            raise ModelLoadError(f"cannot export {self.name!r} to ONNX: {type(exc).__name__}: {exc}") from exc


def _mean_pooled(transformer: Any) -> Any:
    """A torch module: `transformer`'s token vectors mean-pooled over the attention mask and
    L2-normalised, as sentence-transformers' Pooling + Normalize compute them."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    return MeanPooled().eval()
