"""The components a Pipeline wires from its configuration, each built on first use: store,
lexical index, embedder, reader, generator, answerer, retriever, chain. `Pipeline` (rag.pipeline) adds the verbs."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer.reader.folder import read_card, resolve_reader
from rag.config import RagConfig
from rag.embedding.base import Embedder, Loadable
from rag.generator.base import Generator
from rag.retrieval.lexical.base import LexicalIndex
from rag.store import ChromaStore, Store

if TYPE_CHECKING:
    from rag.answer.base import Answerer
    from rag.answer.groundedness import GroundednessScorer
    from rag.answer.reader.reader import SpanReader
    from rag.chain import RagChain
    from rag.retrieval import MultiRouteRetriever
    from rag.retrieval.lexical import FollowingLexicalIndex

log = logging.getLogger(__name__)
_LOADING = threading.RLock()


class Components:
    """Builds and caches the components of one configuration (`self.config`)."""

    config: RagConfig
    _embedder: Embedder | None
    _generator: Generator | None
    _reader: SpanReader | None = None
    _store: Store | None
    _lexical: LexicalIndex | None
    _following: FollowingLexicalIndex | None

    def store(self, create: bool = False) -> Store:
        """The index; opening a missing one raises IndexNotFoundError unless `create`."""
        if self._store is None:
            cfg = self.config.index
            self._store = ChromaStore(cfg.path, cfg.collection, cfg.chroma_url, create=create)
        return self._store

    def embedder(self, store: Store | None = None) -> Embedder:
        """The embedding model: the configured one, else the index's own, else the default, on
        the configured backend (rag.pipeline.embedders).

        Raises:
            IndexMismatchError: the configured model is not the one the index was built with,
                or its vectors come from elsewhere and do not agree.
        """
        from rag.pipeline.embedders import build_embedder, check_index_model

        where = repr(self.config.index.path)
        if self._embedder is None:
            recorded = store.metadata().get("embedding_model") if store is not None else None
            self._embedder = build_embedder(self.config.embedding, recorded, where)
        if store is not None:
            check_index_model(store.metadata(), self._embedder, where)
        return self._embedder

    def generator(self) -> Generator:
        """The generator (loaded on first use; the first load of a GGUF converts and caches it)."""
        g = self.config.generator
        with _LOADING:  # a loader thread (`rag ask`) and the chain must not both load it
            if self._generator is None and g.endpoint:
                from rag.generator.openai_http import OpenAICompatibleGenerator

                self._generator = OpenAICompatibleGenerator(g.endpoint, g.model, os.environ.get(g.api_key_env),
                                                            g.context_window, g.timeout, g.stop_on_loop)
            if self._generator is None:
                self._generator = self._local_generator()
            return self._generator

    def _local_generator(self) -> Generator:
        """ONNX Runtime when configured and the model allows it (merged adapter, a plain Llama),
        else PyTorch."""
        g = self.config.generator
        adapter = self.adapter_dir()
        if g.backend == "onnx" and (g.merge_adapter or adapter is None):
            from rag.generator.onnx_export import UnsupportedModel
            from rag.generator.onnx_lm import OnnxGenerator

            try:
                return OnnxGenerator(g.model, gguf_file=g.gguf_file, adapter=adapter, context_window=g.context_window,
                                     cache_dir=g.cache_dir, threads=g.threads, stop_on_loop=g.stop_on_loop,
                                     prefix_cache=g.prefix_cache, lanes=g.lanes)
            except UnsupportedModel as exc:
                log.warning("generating with PyTorch instead of ONNX Runtime: %s", exc)
        from rag.generator import TransformersGenerator

        return TransformersGenerator(g.model, gguf_file=g.gguf_file, adapter=adapter, context_window=g.context_window,
                                     cache_dir=g.cache_dir, threads=g.threads, stop_on_loop=g.stop_on_loop,
                                     prefix_cache=g.prefix_cache, merge_adapter=g.merge_adapter)

    def adapter_dir(self) -> str | None:
        """The adapter folder (a packaged adapter's name resolved), or None."""
        from rag.adapters import resolve_adapter

        return resolve_adapter(self.config.generator.adapter)

    def refusal_threshold(self, engine: str | None = None) -> float | None:
        """The margin under which answers are refused: answer.refusal_threshold, else the
        card's (the reader's no-answer threshold, or the adapter's for the answer mode); None
        when answer.calibrated_refusal is off or neither is set.

        Raises:
            ReaderLoadError: the reader engine with a missing or incomplete reader folder.
        """
        a = self.config.answer
        if not a.calibrated_refusal:
            return None
        if a.refusal_threshold is not None:
            return a.refusal_threshold
        if (engine or a.engine) == "reader":
            value = self._reader_card().get("no_answer_threshold")
            return float(value) if value is not None else None
        from rag.adapters import card_threshold

        return card_threshold(self.adapter_dir(), a.mode)

    def min_confidence(self, engine: str | None = None) -> float | None:
        """The verifier's refusal cut (it replaces the margin rule): answer.min_confidence, else
        the card's; None without a verifier for the engine in the reader's card (the generator's
        is "generator_verifier") or calibrated_refusal off."""
        a = self.config.answer
        name = "verifier" if (engine or a.engine) == "reader" else "generator_verifier"
        block = self._reader_card().get(name) if a.calibrated_refusal else None
        if block is None:
            return None
        return a.min_confidence if a.min_confidence is not None else float(block["threshold"])

    def _reader_card(self) -> dict[str, Any]:
        return self._reader.card if self._reader is not None else read_card(resolve_reader(self.config.answer.reader))

    def reader(self) -> SpanReader:
        """The extractive reader (loaded on first use; its first load exports it to ONNX once).

        Raises:
            ReaderLoadError: a missing or incomplete reader folder, or one for another tokenizer.
        """
        with _LOADING:
            if self._reader is None:
                from rag.answer.reader.reader import SpanReader

                a = self.config.answer
                g = self.config.generator
                self._reader = SpanReader(a.reader, a.reader_backend, g.cache_dir, g.threads)
            return self._reader

    def answerer(self, closed_book: bool = False) -> Answerer:
        """The configured engine behind the Answerer seam (its model loads on first use). The
        reader needs retrieved passages, so a closed-book chain always generates."""
        from rag.answer.generative import GenerativeAnswerer
        from rag.answer.prompt import load_template

        c = self.config
        if c.answer.engine == "reader" and not closed_book:
            from rag.answer.extractive import ReaderAnswerer
            from rag.answer.reader.folder import check_tokenizer, resolve_reader

            if self._reader is not None:
                return ReaderAnswerer(self._reader, c.prompt.refusal)
            check_tokenizer(resolve_reader(c.answer.reader))  # a bad reader is an error now, not at the first question
            return ReaderAnswerer(self.reader, c.prompt.refusal)
        check = None
        if not closed_book and "generator_verifier" in self._reader_card():
            from rag.answer.verify.generated import GeneratedCheck

            check = GeneratedCheck(self.reader)  # the reader loads with the first answer it checks
        return GenerativeAnswerer(self.generator, load_template(c.prompt.template, closed_book), c.prompt.refusal,
                                  c.generator.max_new_tokens, c.answer.mode, check)

    def lexical_index(self) -> LexicalIndex:
        """The BM25 index kept beside the store (`retrieval.lexical_path`, else
        lexical-COLLECTION.sqlite3 in index.path)."""
        if self._lexical is None:
            from rag.retrieval.lexical import SqliteLexicalIndex

            self._lexical = SqliteLexicalIndex(self.lexical_path())
        return self._lexical

    def lexical_path(self) -> str | Path:
        """Where the BM25 index's SQLite file is."""
        c = self.config
        return c.retrieval.lexical_path or Path(c.index.path) / f"lexical-{c.index.collection}.sqlite3"

    def retriever(self) -> MultiRouteRetriever:
        """The retriever of `retrieval.mode` over the index, with the index's own embedding model.

        Its lexical index follows the store: before a search, when the store's write generation
        changed (any process's ingest), it is compared with the store (same chunk ids) and
        repaired from it when they differ (a missing index is rebuilt). It takes no lock.
        """
        from rag.retrieval import MultiRouteRetriever
        from rag.retrieval.registry import needs_embedder

        r = self.config.retrieval
        store = self.store()
        embedder = None
        if needs_embedder(r.mode, r.mmr):
            embedder = self.embedder(store)
            if isinstance(embedder, Loadable):  # so the first question's embed_query is not a model load
                embedder.load()
        return MultiRouteRetriever(embedder, store, self._synced_lexical(store), r)

    def _synced_lexical(self, store: Store) -> FollowingLexicalIndex:
        from rag.retrieval.lexical import FollowingLexicalIndex

        if self._following is None:
            self._following = FollowingLexicalIndex(self.lexical_index(), store)
        return self._following

    def chain(self, closed_book: bool = False, support: GroundednessScorer | None = None) -> RagChain:
        """The query chain (RagChain) wired from the configuration.

        Args:
            closed_book: no retrieval, the model on its own.
            support: the GroundednessScorer of the `answer.min_support` check; None builds the
                lexical + embedding scorer on this index's embedder.
        """
        from rag.chain import ChainSettings, RagChain

        c = self.config
        answerer = self.answerer(closed_book)  # a bad reader folder is a configuration error: first
        retriever = None if closed_book else self.retriever()
        settings = ChainSettings.from_config(c, closed_book, self.refusal_threshold(answerer.engine),
                                             self.min_confidence(answerer.engine))
        if closed_book or c.answer.min_support is None or answerer.engine == "reader":
            support = None
        elif support is None:
            from rag.answer.groundedness import LexicalEmbeddingScorer

            support = LexicalEmbeddingScorer(self.embedder(self.store()))
        return RagChain(retriever, answerer, settings, support)
