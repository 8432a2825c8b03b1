"""Convex combination of min-max scaled scores: pure properties, checked with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.search.fusion import convex_combination

scores = st.floats(-10, 10, allow_nan=False)


def _scored(items: list[int], values: list[float]) -> list[tuple[int, float]]:
    """(item, score) pairs sorted best first, as an index returns them."""
    pairs = list(zip(items, values, strict=False))
    return sorted(pairs, key=lambda pair: -pair[1])


scored_lists = st.lists(
    st.builds(
        _scored,
        st.lists(st.integers(0, 30), max_size=15, unique=True),
        st.lists(scores, min_size=15, max_size=15),
    ),
    min_size=1,
    max_size=3,
)


@given(scored_lists)
def test_every_item_once_scores_descending_and_within_the_weights(
    lists: list[list[tuple[int, float]]],
) -> None:
    weights = [0.5 + i for i in range(len(lists))]
    fused = convex_combination(lists, weights)
    items = [item for item, _ in fused]
    assert len(items) == len(set(items))
    assert set(items) == {item for ranking in lists for item, _ in ranking}
    values = [score for _, score in fused]
    assert values == sorted(values, reverse=True)
    assert all(-1e-9 <= v <= sum(weights) + 1e-9 for v in values)


@given(scored_lists)
def test_scores_are_the_weighted_min_max_scaled_scores(lists: list[list[tuple[int, float]]]) -> None:
    weights = [float(i + 1) for i in range(len(lists))]
    fused = dict(convex_combination(lists, weights))
    for item, score in fused.items():
        expected = 0.0
        for ranking, weight in zip(lists, weights, strict=True):
            values = dict(ranking)
            if item in values:
                low, high = min(values.values()), max(values.values())
                expected += weight * ((values[item] - low) / (high - low) if high > low else 1.0)
        assert score == pytest.approx(expected)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=20, unique=True))
def test_one_list_keeps_its_order(items: list[int]) -> None:
    ranking = [(item, float(len(items) - rank)) for rank, item in enumerate(items)]
    assert [item for item, _ in convex_combination([ranking])] == items


def test_a_wide_margin_in_one_list_outweighs_a_narrow_one_in_the_other() -> None:
    # RRF would tie a and b (each first once, second once); the scores say a won by far more.
    vector = [("a", 0.9), ("b", 0.2), ("c", 0.1)]
    keyword = [("b", 10.0), ("a", 9.8), ("c", 1.0)]
    assert [item for item, _ in convex_combination([vector, keyword])][:2] == ["a", "b"]


def test_ties_go_to_the_better_best_rank_then_the_earlier_list() -> None:
    fused = convex_combination([[("a", 2.0), ("x", 1.0), ("b", 0.0)], [("b", 2.0), ("y", 1.0), ("a", 0.0)]])
    assert [item for item, _ in fused][:2] == ["a", "b"]


def test_an_empty_list_and_equal_scores() -> None:
    assert convex_combination([[], [("a", 3.0), ("b", 3.0)]], [0.5, 0.5]) == [("a", 0.5), ("b", 0.5)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="one weight per ranking"):
        convex_combination([[(1, 1.0)], [(2, 1.0)]], [1.0])
    with pytest.raises(ValueError, match="not be negative"):
        convex_combination([[(1, 1.0)]], [-1.0])
