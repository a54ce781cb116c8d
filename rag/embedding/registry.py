"""The embedding backends this installation knows. The configuration's accepted
`embedding.backend` values and `rag info` are read from here, so a new backend is one module
plus one `register_backend` call:

    register_backend(EmbeddingBackend("tei", lambda s: TeiEmbedder(s.endpoint, s.model), remote=True))

Built in: "onnx" (the default: the model on ONNX Runtime), "torch" (sentence-transformers on
PyTorch; the same vectors) and "http" (any OpenAI-compatible /v1/embeddings server).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.embedding.base import Embedder


@dataclass(frozen=True)
class EmbeddingSettings:
    """What a backend may be built from (the configuration's [embedding] section, resolved).

    Attributes:
        model: the model's name (packaged, a local folder, or the name a server serves).
        batch_size: texts per forward pass, or per request for a server.
        endpoint: a server's base URL up to /v1 (remote backends).
        api_key: sent as a bearer token (remote backends), read from the environment by the caller.
        concurrency: requests in flight at once (remote backends).
        timeout: seconds per request (remote backends).
        retries: attempts after the first on 429, 5xx and timeouts (remote backends).
        tokenizer: a local model folder or packaged name whose tokenizer counts tokens for a
            remote model (None: the model's own name when it resolves here).
    """

    model: str
    batch_size: int = 32
    endpoint: str | None = None
    api_key: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 4
    tokenizer: str | None = None


@dataclass(frozen=True)
class EmbeddingBackend:
    """One backend.

    Attributes:
        name: the `embedding.backend` value that picks it.
        build: makes the embedder from the settings (raises ModelLoadError when it cannot).
        remote: whether it embeds on another machine (needs `embedding.endpoint`; the ingest
            then embeds the next group of chunks while it writes the current one).
        about: one line for `rag info` and error messages.
    """

    name: str
    build: Callable[[EmbeddingSettings], Embedder]
    remote: bool = False
    about: str = ""


_BACKENDS: dict[str, EmbeddingBackend] = {}


def register_backend(spec: EmbeddingBackend) -> None:
    """Add a backend.

    Raises:
        ConfigError: the name is taken.
    """
    if spec.name in _BACKENDS:
        raise ConfigError(f"embedding backend {spec.name!r} is already registered")
    _BACKENDS[spec.name] = spec


def unregister_backend(name: str) -> None:
    """Remove a backend (for tests)."""
    _BACKENDS.pop(name, None)


def embedding_backends() -> tuple[EmbeddingBackend, ...]:
    """Every backend, in registration order."""
    return tuple(_BACKENDS.values())


def embedding_backend(name: str) -> EmbeddingBackend:
    """The backend called `name`.

    Raises:
        ConfigError: no backend of that name.
    """
    if name not in _BACKENDS:
        raise ConfigError(f"embedding.backend = {name!r} is invalid: expected "
                          + " or ".join(map(repr, _BACKENDS)))
    return _BACKENDS[name]


def _onnx(settings: EmbeddingSettings) -> Embedder:
    from rag.embedding.onnx import OnnxEmbedder

    return OnnxEmbedder(settings.model, settings.batch_size)


def _torch(settings: EmbeddingSettings) -> Embedder:
    from rag.embedding.pytorch import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model, settings.batch_size)


def _http(settings: EmbeddingSettings) -> Embedder:
    from rag.embedding.http import HttpEmbedder

    assert settings.endpoint is not None  # EmbeddingConfig requires it for a remote backend
    return HttpEmbedder(settings.endpoint, settings.model, api_key=settings.api_key,
                        batch_size=settings.batch_size, concurrency=settings.concurrency,
                        timeout=settings.timeout, retries=settings.retries, tokenizer=settings.tokenizer)


register_backend(EmbeddingBackend("onnx", _onnx, about="the model on ONNX Runtime, in process (default)"))
register_backend(EmbeddingBackend("torch", _torch, about="sentence-transformers on PyTorch, in process"))
register_backend(EmbeddingBackend("http", _http, remote=True,
                                  about="an OpenAI-compatible /v1/embeddings server (embedding.endpoint)"))
