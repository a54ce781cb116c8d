"""Embedding: texts -> normalized vectors, in the model's own tokens. The Protocol and model
resolution (base), the backends `embedding.backend` picks from (registry): sentence-transformers
on PyTorch (pytorch), the same network on ONNX Runtime (onnx, the default) and any
OpenAI-compatible embeddings server (http); whether two embedders agree (agreement); MiniLM as
a GGUF for llama.cpp's server (gguf_bert). Importing this package loads no model library."""

from rag.embedding.base import DEFAULT_EMBEDDING_MODEL, Embedder, model_name, resolve_embedding_model
from rag.embedding.pytorch import SentenceTransformerEmbedder

__all__ = ["DEFAULT_EMBEDDING_MODEL", "Embedder", "SentenceTransformerEmbedder", "model_name",
           "resolve_embedding_model"]
