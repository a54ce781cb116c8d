"""The embedder a configuration asks for, over the index it serves: the model named, else the
index's own, else the default; built by its backend (rag.embedding.registry); a server's
vectors compared once with the local model of the same name when the index needs to know.
Components (rag.pipeline.components) calls these; nothing here holds state."""

from __future__ import annotations

import logging
import os
from typing import Any

from rag.config import DEFAULT_EMBEDDING_MODEL, EmbeddingConfig
from rag.embedding.agreement import LOCAL, agreement
from rag.embedding.base import Embedder
from rag.embedding.registry import EmbeddingSettings, embedding_backend
from rag.errors import IndexMismatchError, ModelLoadError
from rag.store import check_embedding_model
from rag.store.base import recorded_agreements

log = logging.getLogger(__name__)


def build_embedder(config: EmbeddingConfig, recorded: str | None, where: str) -> Embedder:
    """The configured model on the configured backend (the index's model when none is named).

    Raises:
        IndexMismatchError: the configured model is not the one the index was built with.
        ModelLoadError: the model cannot be loaded.
        EmbeddingServerError: a remote backend's server is not there or refuses the key.
    """
    wanted = config.model or recorded or DEFAULT_EMBEDDING_MODEL
    if recorded and config.model and recorded != wanted:
        raise IndexMismatchError(f"index {where} was built with embedding model {recorded!r}; "
                                 f"embedding.model is {wanted!r}. Use the index's model or a new index path.")
    settings = EmbeddingSettings(wanted, config.batch_size, config.endpoint, os.environ.get(config.api_key_env),
                                 config.concurrency, config.timeout, config.retries, config.tokenizer)
    try:
        return embedding_backend(config.backend).build(settings)
    except ModelLoadError as exc:
        if wanted != recorded:
            raise
        raise ModelLoadError(f"index {where} was built with embedding model {recorded!r}, which cannot "
                             f"be loaded here: {exc}") from exc


def check_index_model(meta: dict[str, Any], embedder: Embedder, where: str) -> None:
    """Refuse an index of another model (rag.store.base.check_embedding_model), measuring first,
    once, how a server's vectors agree with the local model's when the index needs it: it was
    built elsewhere, or it records no measurement of this server yet (the ingest records it).

    Raises:
        IndexMismatchError: another model, or vectors that do not agree.
    """
    origin = getattr(embedder, "origin", LOCAL)
    if origin != LOCAL and getattr(embedder, "local_agreement", None) is None \
            and origin not in recorded_agreements(meta) and meta.get("embedding_origin") != origin:
        embedder.local_agreement = local_agreement(embedder)  # type: ignore[attr-defined]  # a remote one's
    check_embedding_model(meta, embedder.name, embedder.dimension, where, origin,
                          getattr(embedder, "local_agreement", None))


def local_agreement(embedder: Embedder) -> float | None:
    """The minimum probe cosine between a server's vectors and the local model of the same name;
    None when no local model has that name."""
    try:
        local = embedding_backend("onnx").build(EmbeddingSettings(embedder.name))
    except ModelLoadError:
        return None
    if local.dimension != embedder.dimension:
        return 0.0
    measured = agreement(local, embedder)
    log.info("embedding server %s and the local %s agree to a minimum cosine of %.6f",
             getattr(embedder, "origin", "?"), embedder.name, measured)
    return measured
