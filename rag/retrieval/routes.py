"""The multi-route retriever: a dense route (embeddings in the vector store) and a lexical route
(BM25 in the lexical index), alone or fused by reciprocal rank fusion, optionally diversified by
MMR, both restricted by the same metadata filter.

    question -> [embed -> store.query]  \
                                         -> fuse (RRF) -> MMR (optional) -> top k hits
    question -> [lexical.search]        /      (hybrid: the two routes run at the same time)

Hit scores: cosine similarity in dense and hybrid mode (every fused chunk is scored against the
question's vector, so `retrieval.min_score` keeps its meaning), BM25 in lexical mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rag.embedder import Embedder
from rag.filters import ChunkFilter, ResolvedFilter, resolve_filter
from rag.lexical import LexicalIndex
from rag.retrieval.base import RETRIEVAL_MODES, Retrieval, RetrievalSettings
from rag.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion, rescale
from rag.store import Store
from rag.types import Hit

_ROUTES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-lexical-route")  # a few questions at once


class MultiRouteRetriever:
    """Retrieves by `settings.mode` (dense, lexical or hybrid).

    Args:
        embedder: the index's embedding model (unused in lexical mode without MMR).
        store: the vector store.
        lexical: the lexical index (needed by lexical and hybrid mode, and by filters on
            sources or sections, which are resolved against the values it holds).
        settings: RetrievalSettings.
        catalog: the indexed sources and sections, for filter resolution (default: the lexical
            index's; without one, sources come from the store's manifest).
    """

    def __init__(self, embedder: Embedder | None, store: Store, lexical: LexicalIndex | None = None,
                 settings: RetrievalSettings | None = None,
                 catalog: Callable[[str], Iterable[str]] | None = None) -> None:
        self.embedder = embedder
        self.store = store
        self.lexical = lexical
        self.settings = settings or RetrievalSettings()
        if self.settings.mode not in RETRIEVAL_MODES:
            raise ValueError(f"mode must be one of {', '.join(RETRIEVAL_MODES)}; got {self.settings.mode!r}")
        if self.settings.mode != "dense" and lexical is None:
            raise ValueError(f"{self.settings.mode} retrieval needs a lexical index")
        if self.settings.mode != "lexical" and embedder is None:
            raise ValueError(f"{self.settings.mode} retrieval needs an embedder")
        self.catalog = catalog or (lexical.distinct if lexical is not None else self._manifest_catalog)

    def _manifest_catalog(self, field: str) -> list[str]:
        if field == "source":
            return list(self.store.manifest())
        raise ValueError("section filters need the lexical index (it lists the indexed sections)")

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
        depth = k if s.mode != "hybrid" and s.mmr is None else max(k, s.candidates)  # each route's candidates
        # 1. The lexical route needs no vector: in hybrid mode it runs on a worker thread while
        # the question is embedded and the dense route searched (both release the GIL).
        lexical_run = _ROUTES.submit(self.lexical.search, question, depth, where) \
            if s.mode == "hybrid" and self.lexical else None
        # 2. The question's vector, when a route or a score needs it.
        vector, embed_s = None, 0.0
        if s.mode != "lexical" or s.mmr is not None:
            assert self.embedder is not None
            before = time.perf_counter()
            vector = self.embedder.embed_query(question)
            embed_s = time.perf_counter() - before
        dense = self.store.query(vector, depth, where.chroma_where() if where else None) \
            if s.mode != "lexical" and vector is not None else []
        if lexical_run is not None:
            lexical = lexical_run.result()
        else:
            lexical = self.lexical.search(question, depth, where) if s.mode == "lexical" and self.lexical else []
        # 3. Fuse (hybrid), then diversify (MMR) or cut to k.
        hits = _fuse(dense, lexical, s) if s.mode == "hybrid" else (dense or lexical)
        if s.mode == "hybrid" or s.mmr is not None:
            hits = self._rerank(hits, vector, k)
        return Retrieval(tuple(hits[:k]), embed_s, time.perf_counter() - started - embed_s)

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
        if self.settings.mode == "hybrid" and vector is not None:
            q = np.asarray(vector, dtype=np.float32)
            hits = [Hit(h.chunk, float(np.dot(stored[h.chunk.id], q))) for h in hits]
        return hits


def _fuse(dense: list[Hit], lexical: list[Hit], s: RetrievalSettings) -> list[Hit]:
    """RRF over the two routes' rankings; a hit's score is its fused score until reranked."""
    chunks = {h.chunk.id: h.chunk for h in [*dense, *lexical]}
    fused = reciprocal_rank_fusion([[h.chunk.id for h in dense], [h.chunk.id for h in lexical]],
                                   [s.dense_weight, s.lexical_weight], s.rrf_k)
    return [Hit(chunks[cid], score) for cid, score in fused]
