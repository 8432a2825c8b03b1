"""An `Embedder` that keeps the vectors of recently embedded texts: search queries (people ask the same
things, and chat rewrites a follow-up into a question asked before) and the sentences the extractive
answerer compares (the chunks people ask about most are quoted again and again)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
from cachetools import LRUCache

from docent.llm.ports import Embedder, Vectors


class CachingEmbedder:
    """Wraps an `Embedder`; the vectors of the `kept` most recently used texts are kept (the least recently
    used go first) and shared, so they are read-only. Only the texts not kept are embedded, in one batch.
    Thread-safe; two threads asking for the same new text at once may both embed it."""

    def __init__(self, embedder: Embedder, kept: int) -> None:
        self._embedder = embedder
        self._vectors: LRUCache[str, Vectors] = LRUCache(kept)
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dimension(self) -> int:
        return self._embedder.dimension

    @property
    def max_tokens(self) -> int:
        return self._embedder.max_tokens

    def count_tokens(self, text: str) -> int:
        return self._embedder.count_tokens(text)

    def embed(self, texts: list[str]) -> Vectors:
        found = self._kept(texts)
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            made = np.asarray(self._embedder.embed(missing), dtype=np.float32)
            found.update(self._keep(zip(missing, made, strict=True)))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[text] for text in texts])

    def embed_query(self, text: str) -> Vectors:
        """One text's vector (1-d). An embedder that has `embed_query` (one text, few threads) is asked
        that; the vector returned is the one kept, shared by every caller that asks the same."""
        kept = self._kept([text]).get(text)
        if kept is not None:
            return kept
        single = getattr(self._embedder, "embed_query", None)
        vector = single(text) if callable(single) else self._embedder.embed([text])[0]
        return self._keep([(text, np.asarray(vector, dtype=np.float32).reshape(-1))])[text]

    def forget(self) -> None:
        """Drop every kept vector (benchmarks measure embedding too)."""
        with self._lock:
            self._vectors.clear()

    def _kept(self, texts: list[str]) -> dict[str, Vectors]:
        with self._lock:
            return {text: vector for text in texts if (vector := self._vectors.get(text)) is not None}

    def _keep(self, made: Iterable[tuple[str, Vectors]]) -> dict[str, Vectors]:
        kept: dict[str, Vectors] = {}
        for text, vector in made:
            vector.setflags(write=False)
            kept[text] = vector
        with self._lock:
            self._vectors.update(kept)
        return kept
