"""The wiring: one configuration in, the components built lazily, the user's verbs out.

    from rag import Pipeline
    p = Pipeline(index="rag_index")
    report = p.ingest("docs/")
    answer = p.ask("Who founded the company?")
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer.passages import Passage
from rag.chain import AnswerStream
from rag.config import ANSWER_ENGINES, RagConfig, apply_options, load_config
from rag.embedding import Embedder
from rag.errors import ConfigError
from rag.generator.base import AdapterSwitch, Generator
from rag.pipeline.indexing import Indexing
from rag.retrieval.filters import FilterLike
from rag.retrieval.lexical import FollowingLexicalIndex, LexicalIndex
from rag.retrieval.registry import retrieval_modes
from rag.store import Store
from rag.types import Answer

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable

    from rag.answer.reader.reader import SpanReader

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


class Pipeline(Indexing):
    """Ingest folders into an index and ask questions of it.

    Args:
        index: index folder (overrides the configuration's index.path).
        config: a RagConfig; None loads rag.toml / environment (see `load_config`).
        config_file: a TOML file to load instead of ./rag.toml.
        engine: who answers: "reader" (the extractive reader, the default) or "generator";
            None keeps the configured one (answer.engine).
        adapter: a PEFT LoRA adapter folder or packaged adapter name; "none" = the base model
            alone; None keeps the configured one (the packaged squad2-grounded by default).
        embedder, generator, store, reader, lexical: ready-made components (tests, custom
            backends, a variant sharing another pipeline's).
        **options: any dotted configuration key or alias, e.g. k=8, ``**{"generator.max_new_tokens": 64}``.

    Raises:
        ConfigError: an invalid option.
    """

    def __init__(self, index: str | Path | None = None, *, config: RagConfig | None = None,
                 config_file: str | Path | None = None, engine: str | None = None,
                 adapter: str | Path | None = None, embedder: Embedder | None = None,
                 generator: Generator | None = None, store: Store | None = None, reader: SpanReader | None = None,
                 lexical: LexicalIndex | None = None, **options: object) -> None:
        base = config if config is not None else load_config(config_file)
        overrides: dict[str, object] = {**options}
        if index is not None:
            overrides["index.path"] = str(index)
        if adapter is not None:
            overrides["generator.adapter"] = str(adapter)
        if engine is not None:
            overrides["answer.engine"] = engine
        self.config = apply_options(base, overrides)
        self._embedder = embedder
        self._generator = generator
        self._reader = reader
        self._store = store
        # The lexical index, and the same as retrieval sees it (following the store).
        self._following = lexical if isinstance(lexical, FollowingLexicalIndex) else None
        self._lexical = lexical.inner if isinstance(lexical, FollowingLexicalIndex) else lexical

    # -- ask -----------------------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, filter: FilterLike = None) -> Answer:  # noqa: A002
        """Answer `question` from the index, with sources and timings, or refuse.

        Args:
            filter: only these chunks: a ChunkFilter or a dict such as {"source": "docs/*.md",
                "pages": "3-7", "section": "Setup"} (see rag.retrieval.filters).

        Raises:
            InputError: empty or over-long question; a malformed filter or one matching nothing.
            IndexNotFoundError: no index at the configured path.
        """
        return self.chain().ask(question, k, filter)

    def stream(self, question: str, k: int | None = None, filter: FilterLike = None) -> AnswerStream:  # noqa: A002
        """Like `ask`, but iterate for text as it is generated; `.answer` holds the Answer after."""
        return self.chain().stream(question, k, filter)

    def passages(self, answer: Answer) -> list[Passage]:
        """Each of the answer's sources as a Passage: the chunk's whole text and the stretch to
        highlight (the answer's exact span, else its best-matching sentence; see rag.answer.passages)."""
        from rag.answer.passages import passages

        chunks = self.store().chunks_by_id([s.chunk_id for s in answer.sources])
        return passages(answer, {c.id: c for c in chunks})

    def ask_options(self) -> dict[str, object]:
        """The per-question settings a client may change (`variant`, k) and their defaults."""
        c = self.config
        g = c.generator
        if self._generator is not None:  # loaded or given: it knows
            switchable = isinstance(self._generator, AdapterSwitch) and self._generator.can_disable_adapter
        else:
            switchable = bool(g.adapter) and not g.endpoint
        return {"k": c.retrieval.k, "retrieval": c.retrieval.mode, "retrieval_modes": list(retrieval_modes()),
                "adapter": g.adapter, "adapter_switchable": switchable, "answer_mode": c.answer.mode,
                "votes": c.answer.votes, "engine": c.answer.engine, "engines": list(ANSWER_ENGINES)}

    def variant(self, retrieval: str | None = None, adapter: bool = True, engine: str | None = None) -> Pipeline:
        """This pipeline with another retrieval mode, engine and/or its adapter switched off,
        sharing the index and the models it has loaded (a server's per-question settings).

        Raises:
            ConfigError: an unknown retrieval mode or engine, or adapter=False without an
                adapter that can be switched off (none, or a remote generator).
        """
        options: dict[str, object] = {}
        if retrieval is not None and retrieval != self.config.retrieval.mode:
            options["retrieval.mode"] = retrieval
        if engine is not None and engine != self.config.answer.engine:
            options["answer.engine"] = engine
        if not adapter and self.config.generator.adapter:
            options["generator.adapter"] = "none"
        if not options:
            return self
        config = apply_options(self.config, options)  # checks the mode before anything loads
        uses_generator = config.answer.engine == "generator" or "generator.adapter" in options
        generator = self.generator() if uses_generator else self._generator
        if "generator.adapter" in options:
            if not (isinstance(generator, AdapterSwitch) and generator.can_disable_adapter):
                raise ConfigError(f"the adapter cannot be switched off here: generator.adapter = "
                                  f"{self.config.generator.adapter!r}, endpoint = {self.config.generator.endpoint!r}")
            generator = generator.without_adapter()
        store = self.store()
        reader = self.reader() if config.answer.engine == "reader" else self._reader
        return Pipeline(config=config, embedder=self.embedder(store), generator=generator, store=store,
                        reader=reader, lexical=self._synced_lexical(store))

    def as_retriever(self, k: int | None = None, filter: FilterLike = None) -> BaseRetriever:  # noqa: A002
        """A LangChain BaseRetriever over this index (`filter` as in `ask`; `.invoke(q,
        filter=...)` overrides it per call)."""
        from rag.langchain import as_retriever

        return as_retriever(self.retriever(), k or self.config.retrieval.k, filter)

    def as_embeddings(self) -> Embeddings:
        """The index's embedding model (as ingest uses it) as a LangChain Embeddings
        (rag.langchain.LocalEmbeddings); raises IndexNotFoundError before the first ingest."""
        from rag.langchain import LocalEmbeddings

        return LocalEmbeddings(embedder=self.embedder(self.store()))

    def as_runnable(self, text: bool = False) -> Runnable[str, Answer] | Runnable[str, str]:
        """The chain as a LangChain Runnable (Answer out; or text pieces when `text`)."""
        from rag.langchain import as_runnable, as_text_runnable

        return as_text_runnable(self.chain()) if text else as_runnable(self.chain())
