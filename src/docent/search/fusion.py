"""Fusion of ranked lists: pure, no I/O.

Reciprocal rank fusion: each ranked list gives an item `weight / (k + rank)` (rank 1 is the best); an item's
fused score is the sum over the lists that hold it. A larger `k` flattens the difference between top and
lower ranks.

Convex combination: each list's scores are scaled to [0, 1] by the list's own range (min-max over the
candidates it returned), and an item's fused score is the weighted sum of its scaled scores, 0 from a list
that does not hold it. Unlike RRF it keeps how far apart the scores are, not only their order: a passage
that wins one ranking by a wide margin is not levelled with one that barely made it (Bruch et al., "An
Analysis of Fusion Functions for Hybrid Retrieval", 2023; on SciFact train, bench/tuning.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def _checked_weights(count: int, weights: Sequence[float] | None) -> list[float]:
    """One non-negative weight per ranking; all 1 when none are given."""
    checked = [1.0] * count if weights is None else list(weights)
    if len(checked) != count:
        raise ValueError("one weight per ranking")
    if any(w < 0 for w in checked):
        raise ValueError("weights must not be negative")
    return checked


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[T]], weights: Sequence[float] | None = None, *, k: float = 60.0
) -> list[tuple[T, float]]:
    """Fused (item, score) pairs, best first; ties go to the item with the better best rank, then to
    the earlier list. Items repeated within one list count at their first (best) rank only."""
    if k <= 0:
        raise ValueError("k must be positive")
    weights = _checked_weights(len(rankings), weights)
    scores: dict[T, float] = {}
    best: dict[T, tuple[int, int]] = {}
    for list_index, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        seen: set[T] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best[item] = min(best.get(item, (rank, list_index)), (rank, list_index))
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))


def convex_combination(
    rankings: Sequence[Sequence[tuple[T, float]]], weights: Sequence[float] | None = None
) -> list[tuple[T, float]]:
    """Fused (item, score) pairs, best first, from (item, score) lists each sorted best first; scores in
    [0, sum of weights]. A list whose scores are all equal scales them to 1. Ties go to the item with the
    better best rank, then to the earlier list; an item repeated within one list counts once, at its first."""
    weights = _checked_weights(len(rankings), weights)
    scores: dict[T, float] = {}
    best: dict[T, tuple[int, int]] = {}
    for list_index, (ranking, weight) in enumerate(zip(rankings, weights, strict=True)):
        if not ranking:
            continue
        values = [score for _, score in ranking]
        low, high = min(values), max(values)
        seen: set[T] = set()
        for rank, (item, score) in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scaled = (score - low) / (high - low) if high > low else 1.0
            scores[item] = scores.get(item, 0.0) + weight * scaled
            best[item] = min(best.get(item, (rank, list_index)), (rank, list_index))
    return sorted(scores.items(), key=lambda pair: (-pair[1], best[pair[0]]))
