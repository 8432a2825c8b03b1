"""The scaled profile's search: pgvector's HNSW index for vectors, the tsvector column for keywords.

Keyword ranking is BM25 computed in SQL from the tsvector (see `SearchRepository.bm25_search`) rather than
ts_rank or ts_rank_cd, which weigh neither term rarity nor length the way BM25 does and rank worse.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from docent.db.repositories.search import SearchFilters, rebuild_vector_index
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.index_check import EMBEDDING_DIMENSION_KEY
from docent.search.ports import Scored
from docent.types import ReaderScope


class PgVectorIndex:
    """`VectorIndex` over pgvector: HNSW (cosine) on `embedding::vector(dimension)`, `ef_search` per query,
    iterative scans so that permission filters do not starve the top k. `exact=True` scans every row
    (the reference for measuring recall). The dimension is the embedder's, read on first use."""

    def __init__(self, embedder: Embedder, *, ef_search: int = 100, exact: bool = False) -> None:
        self._embedder = embedder
        self.ef_search = ef_search
        self.exact = exact

    def search(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        vector: npt.NDArray[np.float32],
        k: int,
        filters: SearchFilters,
    ) -> list[Scored]:
        if k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found = self._search(uow, scope, filters, query, k, exact=self.exact)
        if len(found) < k and not self.exact:
            # The index gave up early (its scan is bounded), or fewer than k chunks are readable: only an
            # exact search can tell, and it guarantees that a readable chunk is never missed.
            found = self._search(uow, scope, filters, query, k, exact=True)
        return [Scored(cid, score) for cid, score in found]

    def _search(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        filters: SearchFilters,
        query: npt.NDArray[np.float32],
        k: int,
        *,
        exact: bool,
    ) -> list[tuple[int, float]]:
        return uow.search.pgvector_search(
            scope,
            filters,
            query.tolist(),
            k,
            dimension=int(query.shape[0]),
            model_id=self._embedder.model_id,
            ef_search=self.ef_search,
            exact=exact,
        )

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """The HNSW index must exist, be valid and cast to the recorded dimension, which every vector has."""
        recorded = uow.index_meta.get(EMBEDDING_DIMENSION_KEY)
        if recorded is None:
            return {"vector_index_missing": 0, "vectors_of_another_dimension": 0}
        dimension = int(recorded)
        indexed = uow.search.vector_index_dimension()
        return {
            "vector_index_missing": int(indexed != dimension),
            "vectors_of_another_dimension": uow.search.vectors_of_other_dimension(dimension),
        }

    def rebuild(self, database: Database) -> None:
        """Build the HNSW index beside the old one, concurrently, and swap it in."""
        rebuild_vector_index(database.engine, self._embedder.dimension)


class PostgresKeywordIndex:
    """`KeywordIndex` over the generated `text_search` tsvector (english) and its GIN index, BM25-ranked
    (k1=0.9, b=0.4, statistics over the reader's organisation)."""

    def search(
        self, uow: UnitOfWork, scope: ReaderScope, query: str, k: int, filters: SearchFilters
    ) -> list[Scored]:
        if k <= 0 or not query.strip():
            return []
        lexemes = uow.search.query_lexemes(query)
        return [Scored(cid, score) for cid, score in uow.search.bm25_search(scope, filters, lexemes, k)]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        return {}  # its rows are SQL: `check_index` compares them with the chunks

    def rebuild(self, database: Database) -> None:
        """Nothing outside SQL: `rebuild_index` re-derives the keyword rows."""
