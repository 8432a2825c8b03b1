"""Reciprocal rank fusion: pure properties, checked with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.search.fusion import reciprocal_rank_fusion

rankings = st.lists(st.lists(st.integers(0, 30), max_size=15, unique=True), min_size=1, max_size=4)


@given(rankings, st.floats(1, 200))
def test_every_item_once_and_scores_descending(lists: list[list[int]], k: float) -> None:
    fused = reciprocal_rank_fusion(lists, k=k)
    items = [item for item, _ in fused]
    assert len(items) == len(set(items))
    assert set(items) == {item for ranking in lists for item in ranking}
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)


@given(rankings, st.floats(1, 200))
def test_scores_are_the_weighted_reciprocal_ranks(lists: list[list[int]], k: float) -> None:
    weights = [float(i + 1) for i in range(len(lists))]
    fused = dict(reciprocal_rank_fusion(lists, weights, k=k))
    for item, score in fused.items():
        expected = sum(w / (k + r.index(item) + 1) for r, w in zip(lists, weights, strict=True) if item in r)
        assert score == pytest.approx(expected)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=20, unique=True), st.floats(1, 200))
def test_one_list_keeps_its_order(ranking: list[int], k: float) -> None:
    assert [item for item, _ in reciprocal_rank_fusion([ranking], k=k)] == ranking


@given(rankings)
def test_an_item_first_everywhere_is_first(lists: list[list[int]]) -> None:
    lists = [[999, *ranking] for ranking in lists]
    assert reciprocal_rank_fusion(lists)[0][0] == 999


@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=15, unique=True),
    st.lists(st.integers(0, 30), min_size=1, max_size=15, unique=True),
)
def test_a_zero_weight_list_only_breaks_ties(first: list[int], second: list[int]) -> None:
    fused = [item for item, _ in reciprocal_rank_fusion([first, second], [1.0, 0.0])]
    assert fused[: len(first)] == first


def test_ties_go_to_the_better_best_rank_then_the_earlier_list() -> None:
    # a: ranks 1 and 3; b: ranks 3 and 1 -> equal scores; a's best rank (1, list 0) wins.
    fused = reciprocal_rank_fusion([["a", "x", "b"], ["b", "y", "a"]], k=60)
    assert [item for item, _ in fused][:2] == ["a", "b"]


def test_repeats_within_a_list_count_once() -> None:
    assert reciprocal_rank_fusion([["a", "a", "b"]], k=1) == [("a", 0.5), ("b", 1 / 4)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        reciprocal_rank_fusion([[1]], k=0)
    with pytest.raises(ValueError, match="one weight per ranking"):
        reciprocal_rank_fusion([[1], [2]], [1.0])
    with pytest.raises(ValueError, match="not be negative"):
        reciprocal_rank_fusion([[1]], [-1.0])
