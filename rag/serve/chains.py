"""The server's chains: one per (retrieval mode, adapter on/off, engine) a client asked for,
each a variant of the one pipeline sharing its index and loaded models, built on first use."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rag.answer.generative import GenerativeAnswerer
from rag.generator.base import Laned

if TYPE_CHECKING:
    from rag.chain import RagChain
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)
DEFAULT: tuple[str | None, bool, str | None] = (None, True, None)  # the configured settings


class Chains:
    """Builds, caches and preloads the pipeline's chains.

    Args:
        pipeline: the server's Pipeline (its `variant`s give the per-question settings).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._chains: dict[tuple[str | None, bool, str | None], RagChain] = {}
        self._lock = threading.Lock()  # two first requests must not load the models twice
        self.state = "idle"  # -> "loading" -> "ready" or "failed" (preload)
        self.error = ""

    def _key(self, retrieval: str | None, adapter: bool | None,
             engine: str | None = None) -> tuple[str | None, bool, str | None]:
        """Settings equal to the configured ones count as the default (one chain, not two)."""
        config = self.pipeline.config
        return (None if retrieval == config.retrieval.mode else retrieval, adapter is not False,
                None if engine == config.answer.engine else engine)

    def has(self, retrieval: str | None = None, adapter: bool | None = None, engine: str | None = None) -> bool:
        """Whether the chain for these settings is built already."""
        return self._key(retrieval, adapter, engine) in self._chains

    def get(self, retrieval: str | None = None, adapter: bool | None = None, engine: str | None = None) -> RagChain:
        """The chain for these settings (None = the configured default).

        Raises:
            ConfigError: an unknown retrieval mode or engine, or an adapter that cannot be
                switched off.
        """
        key = self._key(retrieval, adapter, engine)
        with self._lock:
            if key not in self._chains:
                source = self.pipeline if key == DEFAULT else self.pipeline.variant(*key)
                self._chains[key] = source.chain()
            return self._chains[key]

    def lanes(self) -> int:
        """How many answers the default chain's answerer runs at once (1 until it is loaded,
        for the reader, and for generators without lanes)."""
        chain = self._chains.get(DEFAULT)
        if chain is None or not chain.loaded:
            return 1
        return chain.answerer.lanes()

    @property
    def loaded(self) -> bool:
        """Whether the default chain and its answering model are loaded."""
        chain = self._chains.get(DEFAULT)
        return chain is not None and bool(chain.loaded)

    def preload(self) -> None:
        """Load the default chain and its answering model now (a server's start), recording
        the outcome in `state` / `error` so a page can say the model is loading or failed to."""
        self.state = "loading"
        try:
            answerer = self.get().answerer
            answerer.load()
            if isinstance(answerer, GenerativeAnswerer) and isinstance(answerer.generator, Laned):
                answerer.generator.open_lanes()  # so the first answers at once do not wait for it
            self.state = "ready"
        except Exception as exc:  # noqa: BLE001 - reported by /health; the first question retries
            log.exception("preloading the model failed")
            self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
