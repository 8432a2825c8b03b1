"""The retriever keeps recent queries' vectors: people repeat questions; ranking twice embeds once."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from docent.search.retrieve import QUERY_VECTORS_KEPT, Retriever, SearchMode
from docent.types import ReaderScope


class CountingEmbedder:
    model_id = "counting"
    dimension = 3

    def __init__(self) -> None:
        self.asked: list[str] = []

    def embed_query(self, text: str) -> np.ndarray:
        self.asked.append(text)
        return np.asarray([len(text), 1.0, 0.0], dtype=np.float32)


class NoIndex:
    def search(self, *_: Any) -> list[Any]:
        return []


def test_a_query_is_embedded_once_until_forgotten_or_crowded_out() -> None:
    embedder = CountingEmbedder()
    retriever = Retriever(embedder, NoIndex(), NoIndex())  # type: ignore[arg-type]
    scope = ReaderScope(uuid.uuid4(), uuid.uuid4(), frozenset(), False)
    for mode in (SearchMode.HYBRID, SearchMode.VECTOR):
        retriever.rank(None, scope, "parental leave", mode=mode)  # type: ignore[arg-type]
    assert embedder.asked == ["parental leave"]
    vector = retriever.embed_query("parental leave")
    assert not vector.flags.writeable  # shared: nobody may change it for the others

    retriever.forget_queries()
    retriever.embed_query("parental leave")
    assert embedder.asked == ["parental leave"] * 2

    for number in range(QUERY_VECTORS_KEPT):
        retriever.embed_query(f"query {number}")
    retriever.embed_query("parental leave")  # the oldest went when the newer ones came
    assert embedder.asked[-1] == "parental leave" and len(embedder.asked) == QUERY_VECTORS_KEPT + 3
