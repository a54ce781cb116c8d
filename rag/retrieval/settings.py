"""The retrieval settings: the `[retrieval]` configuration section is what the retriever takes
(one source of every default), validated against the registered modes."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from rag.errors import invalid_setting
from rag.retrieval.registry import mode_routes, scores_are_cosine


@dataclass(frozen=True)
class RetrievalConfig:
    """How chunks are retrieved: the route(s), how many, fusion and MMR, and the cosine score
    under which `ask` refuses without generating.

    mode: a registered mode (rag.retrieval.registry): "dense" (embeddings), "lexical" (BM25),
        "hybrid" (both, reciprocal rank fusion), or a route registered by a plugin.
    candidates: hits each route contributes to fusion and MMR. rrf_k, dense_weight,
    lexical_weight: fused score = sum of weight / (rrf_k + rank) (another route's weight comes
    with its registration). mmr: MMR's lambda (0-1), None = off. lexical_path: the BM25 index's
    SQLite file (default: beside a local index, in index.path for a server one).
    """

    k: int = 4
    min_score: float | None = None
    mode: str = "hybrid"  # beat dense on every dev10 retrieval metric (README, Retrieval)
    candidates: int = 20
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    mmr: float | None = None
    lexical_path: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 100:
            raise invalid_setting("retrieval.k", self.k, "an integer from 1 to 100")
        if self.min_score is not None and not -1.0 <= self.min_score <= 1.0:
            raise invalid_setting("retrieval.min_score", self.min_score, "a cosine similarity from -1 to 1")
        mode_routes(self.mode)  # raises on an unknown mode, naming the registered ones
        if not 1 <= self.candidates <= 1000:
            raise invalid_setting("retrieval.candidates", self.candidates, "an integer from 1 to 1000")
        if self.rrf_k < 0:
            raise invalid_setting("retrieval.rrf_k", self.rrf_k, "an integer >= 0")
        for key in ("dense_weight", "lexical_weight"):
            if not 0.0 <= getattr(self, key) <= 100.0:
                raise invalid_setting(f"retrieval.{key}", getattr(self, key), "a weight from 0 to 100")
        if self.mmr is not None and not 0.0 <= self.mmr <= 1.0:
            raise invalid_setting("retrieval.mmr", self.mmr, "a lambda from 0 (diverse) to 1 (relevant), or none")
        if not scores_are_cosine(self.mode) and self.min_score is not None:
            warnings.warn(f"retrieval.min_score is a cosine similarity; {self.mode} mode scores by its "
                          "route's own score, so it is ignored", stacklevel=3)

    def weight(self, route: str) -> float:
        """A route's weight in fusion: dense_weight, lexical_weight, else its registered one."""
        if route in ("dense", "lexical"):
            return float(getattr(self, f"{route}_weight"))
        return next(spec.weight for spec in mode_routes(route))

    @property
    def min_cosine(self) -> float | None:
        """min_score where the mode's scores are cosines, else None (it would be ignored)."""
        return self.min_score if scores_are_cosine(self.mode) else None


RetrievalSettings = RetrievalConfig  # the retriever's name for the same dataclass
