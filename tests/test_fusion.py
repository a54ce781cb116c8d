"""Reciprocal rank fusion and MMR on hand-made rankings, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from rag.retrieval.fusion import maximal_marginal_relevance, reciprocal_rank_fusion, rescale


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]], rrf_k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_by_fused_score_and_an_item_in_both_lists_wins() -> None:
    order = [item for item, _ in reciprocal_rank_fusion([["a", "b", "c"], ["c", "d", "b"]], rrf_k=1)]
    # a: 1/2; b: 1/3 + 1/4; c: 1/4 + 1/2; d: 1/3
    assert order == ["c", "b", "a", "d"]


def test_rrf_weights_and_zero_weight_route() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[1.0, 0.0], rrf_k=0)
    assert [item for item, _ in fused] == ["a", "b"]
    assert dict(fused) == pytest.approx({"a": 1.0, "b": 0.5})
    heavy = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[1.0, 3.0], rrf_k=0)
    assert heavy[0][0] == "b"


def test_rrf_ties_keep_first_seen_order_and_duplicates_count_once() -> None:
    fused = reciprocal_rank_fusion([["x", "y", "x"], ["y", "x"]], rrf_k=10)
    assert [item for item, _ in fused] == ["x", "y"]
    assert fused[0][1] == pytest.approx(fused[1][1])


def test_rrf_rejects_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])


def test_mmr_lambda_one_keeps_relevance_order() -> None:
    vectors = np.eye(3)
    assert maximal_marginal_relevance([0.2, 1.0, 0.5], vectors, 3, 1.0) == [1, 2, 0]


def test_mmr_skips_a_near_duplicate_for_a_diverse_candidate() -> None:
    # 0 and 1 are the same direction; 2 is orthogonal but a little less relevant.
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    relevance = [1.0, 0.95, 0.6]
    assert maximal_marginal_relevance(relevance, vectors, 2, 0.5) == [0, 2]
    # By hand for the second pick: 0.5*0.95 - 0.5*1.0 = -0.025 against 0.5*0.6 - 0 = 0.3.
    # At lambda 0.9 relevance wins: 0.9*0.95 - 0.1*1.0 = 0.755 against 0.9*0.6 = 0.54.
    assert maximal_marginal_relevance(relevance, vectors, 2, 0.9) == [0, 1]


def test_mmr_bounds() -> None:
    with pytest.raises(ValueError, match="lambda_mult"):
        maximal_marginal_relevance([1.0], np.eye(1), 1, 1.5)
    assert maximal_marginal_relevance([], np.zeros((0, 2)), 3, 0.5) == []
    assert len(maximal_marginal_relevance([1.0, 0.5], np.eye(2), 5, 0.5)) == 2


def test_rescale() -> None:
    assert rescale([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    assert rescale([7.0, 7.0]) == [1.0, 1.0]
