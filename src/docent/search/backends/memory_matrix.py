"""Exact cosine search over an in-memory float32 matrix derived from the chunks (the embedded profile).

How it stays in step with the database and applies permissions: see `memory_rows`. Unit vectors make the
cosine a plain dot product: one matrix-vector product per query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import LargeBinary, String, and_, select, type_coerce
from sqlalchemy.orm import Session

from docent.db.repositories.chunk_vectors import live_model
from docent.db.repositories.search import document_key
from docent.db.tables import Chunk, ChunkVector
from docent.db.uow import UnitOfWork
from docent.llm.ports import Embedder
from docent.search.backends.memory_rows import (
    NO_ROWS,
    ChunkStamp,
    MemoryIndex,
    Rows,
    changes,
    chunk_stamps,
    merged,
    top_k,
)
from docent.search.ports import Scored
from docent.types import ReaderScope, SearchFilters


@dataclass(frozen=True)
class _Matrix:
    rows: Rows
    matrix: npt.NDArray[np.float32]  # row i is the unit vector of chunk rows.ids[i]
    beside: bool = False  # the vectors were read from `chunk_vectors` (the model is not the live one)


class MemoryMatrixIndex(MemoryIndex[_Matrix]):
    """`VectorIndex` holding every vector of the embedder's model in one matrix; exact top k."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self._embedder = embedder  # the matrix holds the vectors this embedder's model made

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
        snapshot, candidates = self.searchable(uow, scope, filters)
        if candidates.size == 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if candidates.size < len(snapshot.rows) // 4:  # few readable rows: multiply only those
            scores = snapshot.matrix[candidates] @ query
        else:
            scores = (snapshot.matrix @ query)[candidates]
        ids = snapshot.rows.ids
        return [Scored(int(ids[candidates[i]]), float(scores[i])) for i in top_k(scores, k)]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """Compare the matrix, as the next query would use it, with the chunks row by row."""
        snapshot, stamps, problems = self.row_check(uow)
        rows = snapshot.rows
        held = {int(cid): row for row, cid in enumerate(rows.ids)}
        common = [cid for cid in stamps if cid in held]
        stale = 0
        for start in range(0, len(common), 2000):
            part = common[start : start + 2000]
            stored = _vectors(uow.session, part, self._embedder.model_id if snapshot.beside else None)
            for cid in part:
                row = held[cid]
                same_document = rows.document_keys[rows.documents[row]] == stamps[cid].document_key
                same_vector = np.array_equal(_as_array(stored[cid]), snapshot.matrix[row])
                stale += not (same_document and same_vector)
        return {
            "matrix_rows_missing": problems["rows_missing"],
            "matrix_rows_without_chunk": problems["rows_without_chunk"],
            "matrix_rows_stale": stale,
        }

    # ---------- deriving the matrix ----------

    def _empty(self) -> _Matrix:
        return _Matrix(NO_ROWS, np.zeros((0, 0), dtype=np.float32))

    def _beside(self, uow: UnitOfWork) -> bool:
        """Whether this model's vectors are kept beside the chunks: a migration's pending model, or the
        previous one after a switch (the switch changes the chunks, so their generation counter moves)."""
        return live_model(uow.session) not in (None, self._embedder.model_id)

    def _stamps(self, uow: UnitOfWork) -> list[ChunkStamp]:
        if self._beside(uow):
            return beside_stamps(uow.session, self._embedder.model_id)
        return chunk_stamps(uow.session, self._embedder.model_id)

    def _refreshed(self, uow: UnitOfWork, old: _Matrix, stamps: list[ChunkStamp], generation: int) -> _Matrix:
        beside = self._beside(uow)
        if beside != old.beside:  # the same chunks, with another model's vectors: derive every row again
            old = self._empty()
        diff = changes(old.rows, stamps)
        loaded = _vectors(
            uow.session, [s.chunk_id for s in diff.load], self._embedder.model_id if beside else None
        )
        load = [s for s in diff.load if s.chunk_id in loaded]  # deleted since the stamps were read
        vectors = [_as_array(loaded[stamp.chunk_id]) for stamp in load]
        dimension = old.matrix.shape[1] if diff.keep else (vectors[0].shape[0] if vectors else 0)
        fresh = np.zeros((len(vectors), dimension), dtype=np.float32)
        for i, vector in enumerate(vectors):
            fresh[i] = vector
        matrix = np.concatenate([old.matrix[diff.keep], fresh]) if diff.keep else fresh
        return _Matrix(merged(old.rows, diff.keep, load, generation), matrix, beside)


def beside_stamps(session: Session, model_id: str) -> list[ChunkStamp]:
    """Every chunk that has a vector of `model_id` in `chunk_vectors`, by id."""
    query = (
        select(
            Chunk.id,
            type_coerce(Chunk.document_id, String),
            Chunk.text_hash,
            type_coerce(Chunk.org_id, String),
        )
        .join(ChunkVector, and_(ChunkVector.chunk_id == Chunk.id, ChunkVector.embedding_model == model_id))
        .order_by(Chunk.id)
    )
    rows = session.connection().execute(query)
    return [ChunkStamp(int(r[0]), document_key(r[1]), str(r[2]), document_key(r[3])) for r in rows]


def _vectors(session: Session, chunk_ids: list[int], beside: str | None = None) -> dict[int, Any]:
    """Stored vectors by chunk id (raw float32 bytes on SQLite, arrays on PostgreSQL): the chunks' own, or
    those of model `beside` in `chunk_vectors`."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    column = Chunk.embedding if beside is None else ChunkVector.embedding
    key = Chunk.id if beside is None else ChunkVector.chunk_id
    raw = type_coerce(column, LargeBinary) if sqlite else column
    found: dict[int, Any] = {}
    for start in range(0, len(chunk_ids), 500):
        query = select(key, raw).where(key.in_(chunk_ids[start : start + 500]))
        if beside is not None:
            query = query.where(ChunkVector.embedding_model == beside)
        found.update((int(row[0]), row[1]) for row in session.execute(query))
    return found


def _as_array(value: Any) -> npt.NDArray[np.float32]:
    if isinstance(value, bytes | memoryview):
        return np.frombuffer(bytes(value), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)
