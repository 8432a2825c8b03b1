"""The retrieval ports: a vector index and a keyword index, each answering for one reader.

Both return `(chunk id, score)` pairs, best first, higher scores better. The contract every adapter keeps:
the reader's permission filter (organisation, visibility, group shares, soft deletes) and the search
filters are applied inside the index query, before the top k are taken; only chunks of a document's
indexed version are considered; and a chunk the database no longer has is never returned by a query
that began after it was removed.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from docent.db.uow import Database, UnitOfWork
from docent.types import ReaderScope, SearchFilters

__all__ = ["BM25_B", "BM25_K1", "KeywordIndex", "Scored", "SearchFilters", "VectorIndex"]

# BM25 as Lucene (and Anserini's published BEIR baselines) computes it: the defaults of the in-memory index
# and the PostgreSQL profile (settings `bm25_k1`, `bm25_b`; FTS5's bm25() has its own, k1=1.2 and b=0.75).
BM25_K1 = 0.9
BM25_B = 0.4


class Scored(NamedTuple):
    chunk_id: int
    score: float


class VectorIndex(Protocol):
    """Nearest chunks to a query vector by cosine similarity (the score)."""

    def search(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        vector: npt.NDArray[np.float32],
        k: int,
        filters: SearchFilters,
    ) -> list[Scored]:
        """At most `k` chunks the reader may read, nearest first, permission filter applied before top k."""
        ...

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """Disagreements between this index and the chunks (each kind with its count; 0 = none)."""
        ...

    def rebuild(self, database: Database) -> None:
        """Derive the index from the chunks again, in transactions of its own; searches keep being
        answered meanwhile."""
        ...


class KeywordIndex(Protocol):
    """Chunks matching any of the query's terms, ranked by BM25 (the score)."""

    def search(
        self, uow: UnitOfWork, scope: ReaderScope, query: str, k: int, filters: SearchFilters
    ) -> list[Scored]:
        """At most `k` chunks the reader may read, best first, permission filter applied before top k.
        A query with no searchable term returns nothing."""
        ...

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """Disagreements between this index and the chunks that the SQL checks cannot see (in-memory
        state); each kind with its count."""
        ...

    def rebuild(self, database: Database) -> None:
        """Derive what this index holds outside SQL again; searches keep being answered meanwhile."""
        ...
