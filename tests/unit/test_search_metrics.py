"""Retrieval metrics against hand-computed trec_eval values, and their bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.search.metrics import evaluate, mrr_at, ndcg_at, recall_at


def test_hand_computed_values() -> None:
    relevant = {"a": 1, "c": 1}
    ranking = ["b", "a", "d", "c"]
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at(ranking, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert recall_at(ranking, relevant, 2) == 0.5
    assert recall_at(ranking, relevant, 10) == 1.0
    assert mrr_at(ranking, relevant, 10) == 0.5
    assert mrr_at(ranking, relevant, 1) == 0.0


def test_duplicates_count_once_and_graded_relevance_is_used() -> None:
    assert ndcg_at(["a", "a", "b"], {"b": 1}, 2) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["x", "y"], {"x": 1, "y": 2}, 2) < ndcg_at(["y", "x"], {"x": 1, "y": 2}, 2) == 1.0


def test_mean_over_judged_queries_only() -> None:
    scores = evaluate({"q1": ["a"], "q2": ["z"]}, {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}})
    assert scores["ndcg@10"] == 0.5 and scores["mrr@10"] == 0.5


@given(
    st.lists(st.sampled_from("abcdefgh"), max_size=20),
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 3), max_size=8),
)
def test_metrics_stay_between_zero_and_one(ranking: list[str], relevant: dict[str, int]) -> None:
    for metric in (ndcg_at, recall_at, mrr_at):
        assert 0.0 <= metric(ranking, relevant, 10) <= 1.0 + 1e-12
