"""Embedding: texts -> normalized vectors, in the model's own tokens. The Protocol and model
resolution (base), sentence-transformers on PyTorch (pytorch) and the same network on ONNX
Runtime (onnx, the default backend). Importing this package loads no model library."""

from rag.embedding.base import DEFAULT_EMBEDDING_MODEL, Embedder, model_name, resolve_embedding_model
from rag.embedding.pytorch import SentenceTransformerEmbedder

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Embedder", "SentenceTransformerEmbedder", "model_name",
           "resolve_embedding_model"]
