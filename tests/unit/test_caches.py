"""The bounded caches: a caching embedder (query vectors, the extractive answerer's sentence vectors) and
cachetools underneath every in-process cache, none written by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import docent
from docent.llm.caching import CachingEmbedder


class CountingEmbedder:
    """Unit vectors from a hash of the text; records every batch it is asked to embed."""

    model_id = "counting"
    dimension = 8
    max_tokens = 100

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_only_texts_not_kept_are_embedded_and_the_oldest_go_first() -> None:
    counting = CountingEmbedder()
    vectors = CachingEmbedder(counting, kept=3)  # type: ignore[arg-type]
    first = vectors.embed(["a", "b", "a"])
    assert counting.batches == [["a", "b"]] and np.array_equal(first[0], first[2])
    again = vectors.embed(["b", "c"])
    assert counting.batches[-1] == ["c"] and np.array_equal(again[0], first[1])
    vectors.embed(["d"])  # four held: "a", the least recently used, goes
    vectors.embed(["a"])
    assert counting.batches[-1] == ["a"]
    assert vectors.embed([]).shape == (0, 8)


def test_it_is_an_embedder_and_its_query_vectors_are_shared_read_only() -> None:
    counting = CountingEmbedder()
    vectors = CachingEmbedder(counting, kept=10)  # type: ignore[arg-type]
    assert (vectors.model_id, vectors.dimension, vectors.max_tokens) == ("counting", 8, 100)
    assert vectors.count_tokens("two words") == 2
    query = vectors.embed_query("parental leave")
    assert query.shape == (8,) and not query.flags.writeable
    assert vectors.embed_query("parental leave") is query
    assert np.array_equal(vectors.embed(["parental leave"])[0], query)  # one cache for both calls
    assert counting.batches == [["parental leave"]]
    vectors.forget()
    vectors.embed_query("parental leave")
    assert len(counting.batches) == 2
    with pytest.raises(ValueError, match="read-only"):
        query[0] = 1.0


def test_no_cache_is_written_by_hand_on_an_ordered_dict() -> None:
    source = Path(docent.__file__).parent
    offenders = [str(path) for path in source.rglob("*.py") if "OrderedDict" in path.read_text()]
    assert offenders == []
