"""The multi-route retriever: the routes of `retrieval.mode` (rag.retrieval.registry), alone or
fused by reciprocal rank fusion with a weight each, optionally diversified by MMR, all restricted
by the same resolved filter.

    question -> [embed] -> route 1 (dense: store.query)   \
                           route 2 (lexical: BM25) ...      -> fuse (RRF) -> MMR (optional) -> top k
                           (routes needing no vector run on worker threads meanwhile)

Hit scores: each route's own when it runs alone (cosine for dense, BM25 for lexical); fused hits
are rescored by cosine against the question's vector, so `retrieval.min_score` keeps its meaning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from rag.embedding.base import Embedder
from rag.errors import ConfigError, InputError
from rag.retrieval.base import Query, Retrieval, Route
from rag.retrieval.filters import ChunkFilter, resolve_filter
from rag.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion, rescale
from rag.retrieval.lexical.base import LexicalIndex
from rag.retrieval.registry import RouteParts, RouteSpec, mode_routes, needs_embedder
from rag.retrieval.settings import RetrievalConfig
from rag.store.base import Store
from rag.types import Hit, ResolvedFilter

_ROUTES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-route")  # a few questions at once


class MultiRouteRetriever:
    """Retrieves by `settings.mode`.

    Args:
        embedder: the index's embedding model (None for a mode that needs no vector).
        store: the vector store.
        lexical: the lexical index (needed by the lexical route, and by filters on sources or
            sections, which are resolved against the values it holds).
        settings: the retrieval section of the configuration (its defaults when None).
        catalog: the indexed sources and sections, for filter resolution (default: the lexical
            index's; without one, sources come from the store's manifest).

    Raises:
        ConfigError: an unknown mode, or a part its routes need missing.
    """

    def __init__(self, embedder: Embedder | None, store: Store, lexical: LexicalIndex | None = None,
                 settings: RetrievalConfig | None = None,
                 catalog: Callable[[str], Iterable[str]] | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.settings = settings or RetrievalConfig()
        if needs_embedder(self.settings.mode, self.settings.mmr) and embedder is None:
            raise ConfigError(f"{self.settings.mode} retrieval needs an embedder")
        parts = RouteParts(store, lexical, embedder)
        self.routes: tuple[tuple[RouteSpec, Route], ...] = tuple(
            (spec, spec.build(parts)) for spec in mode_routes(self.settings.mode))
        self.catalog = catalog or (lexical.distinct if lexical is not None else self._manifest_catalog)

    def _manifest_catalog(self, field: str) -> list[str]:
        if field == "source":
            return list(self.store.manifest())
        raise InputError("section filters need the lexical index (it lists the indexed sections)")

    def resolve(self, chunk_filter: ChunkFilter | None) -> ResolvedFilter | None:
        """The filter as explicit value lists; None when there is none.

        Raises:
            InputError: a source or section pattern matching nothing indexed.
        """
        if chunk_filter is None or chunk_filter.is_empty:
            return None
        sources = self.catalog("source") if chunk_filter.source is not None else ()
        sections = self.catalog("section") if chunk_filter.section is not None else ()
        return resolve_filter(chunk_filter, sources, sections)

    def retrieve(self, question: str, k: int, chunk_filter: ChunkFilter | None = None) -> Retrieval:
        """The top-k hits for `question` among the chunks `chunk_filter` allows."""
        s = self.settings
        started = time.perf_counter()
        where = self.resolve(chunk_filter)
        fused = len(self.routes) > 1
        depth = max(k, s.candidates) if fused or s.mmr is not None else k  # each route's candidates
        # 1. With several routes, those needing no vector run on worker threads while the
        # question is embedded and the others searched (both release the GIL).
        early: dict[str, Future[list[Hit]]] = {
            spec.name: _ROUTES.submit(route.search, Query(question), depth, where)
            for spec, route in self.routes if fused and not spec.needs_vector}
        # 2. The question's vector, when a route or a score needs it.
        vector, embed_s = None, 0.0
        if self.embedder is not None and needs_embedder(s.mode, s.mmr):
            before = time.perf_counter()
            vector = self.embedder.embed_query(question)
            embed_s = time.perf_counter() - before
        rankings = [early[spec.name].result() if spec.name in early
                    else route.search(Query(question, vector), depth, where) for spec, route in self.routes]
        # 3. Fuse, then diversify (MMR) or cut to k.
        hits = self._fuse(rankings) if fused else rankings[0]
        if fused or s.mmr is not None:
            hits = self._rerank(hits, vector, k)
        return Retrieval(tuple(hits[:k]), embed_s, time.perf_counter() - started - embed_s)

    def _fuse(self, rankings: Sequence[list[Hit]]) -> list[Hit]:
        """RRF over the routes' rankings; a hit's score is its fused score until reranked."""
        chunks = {h.chunk.id: h.chunk for ranking in rankings for h in ranking}
        weights = [self.settings.weight(spec.name) for spec, _ in self.routes]
        fused = reciprocal_rank_fusion([[h.chunk.id for h in ranking] for ranking in rankings],
                                       weights, self.settings.rrf_k)
        return [Hit(chunks[cid], score) for cid, score in fused]

    def _rerank(self, hits: list[Hit], vector: np.ndarray | None, k: int) -> list[Hit]:
        """Cosine scores for fused hits (from stored vectors), and MMR when asked for."""
        if not hits:
            return hits
        stored = self.store.vectors_by_id([h.chunk.id for h in hits]) if vector is not None else {}
        hits = [h for h in hits if h.chunk.id in stored] if stored else hits
        if self.settings.mmr is not None and stored:
            rows = np.stack([stored[h.chunk.id] for h in hits])
            picked = maximal_marginal_relevance(rescale([h.score for h in hits]), rows, k, self.settings.mmr)
            hits = [hits[i] for i in picked]
        if len(self.routes) > 1 and vector is not None:
            q = np.asarray(vector, dtype=np.float32)
            hits = [Hit(h.chunk, float(np.dot(stored[h.chunk.id], q))) for h in hits]
        return hits
