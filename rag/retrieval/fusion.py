"""Combining rankings: reciprocal rank fusion, and maximal marginal relevance (MMR).

Both take and return plain values (ids, scores, vectors) so they can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], weights: Sequence[float] | None = None,
                           rrf_k: int = 60) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of weight / (rrf_k + rank), rank from 1.

    Ties keep the order in which ids were first seen (earlier lists first).

    Raises:
        ValueError: as many weights as rankings are needed, and rrf_k must be >= 0.
    """
    weights = [1.0] * len(rankings) if weights is None else list(weights)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(rankings)} rankings but {len(weights)} weights")
    if rrf_k < 0:
        raise ValueError(f"rrf_k must be >= 0; got {rrf_k}")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def maximal_marginal_relevance(relevance: Sequence[float], vectors: np.ndarray, k: int,
                               lambda_mult: float) -> list[int]:
    """Greedy MMR: repeatedly pick the candidate maximising
    lambda * relevance - (1 - lambda) * (its highest cosine similarity to those already picked).

    Args:
        relevance: each candidate's relevance, in [0, 1].
        vectors: one unit-normalised row per candidate.
        k: how many to pick.
        lambda_mult: 1 keeps the relevance order, 0 only avoids redundancy.

    Returns:
        Indices of the picked candidates, in pick order.
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"lambda_mult must be in [0, 1]; got {lambda_mult}")
    if len(relevance) != len(vectors):
        raise ValueError(f"got {len(relevance)} relevance scores but {len(vectors)} vectors")
    rel = np.asarray(relevance, dtype=np.float64)
    if len(rel) == 0 or k < 1:
        return []
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    picked: list[int] = []
    redundancy = np.full(len(rel), -np.inf)
    while len(picked) < min(k, len(rel)):
        gain = lambda_mult * rel - (1.0 - lambda_mult) * (redundancy if picked else 0.0)
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        redundancy = np.maximum(redundancy, sims[best])
    return picked


def rescale(scores: Sequence[float]) -> list[float]:
    """Min-max to [0, 1] (all ones when the scores are equal): MMR's relevance from any score."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return [1.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]
