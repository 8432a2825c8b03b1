"""The scaled profile's vector search: pgvector's HNSW index, its SQL and its DDL (keyword search is in
`postgres_bm25`).

Every query applies the reader's permission filter and the search filters (`searchable`) inside SQL, before
the LIMIT, and reads only the chunks of a document's indexed version.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, and_, cast, func, select, text
from sqlalchemy.orm import Session

from docent.db.repositories.chunk_vectors import live_model
from docent.db.repositories.index_meta import EMBEDDING_DIMENSION_KEY
from docent.db.repositories.search import searchable
from docent.db.tables import Chunk, ChunkVector, Document
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.ports import Scored
from docent.types import ReaderScope, SearchFilters

HNSW_INDEX = "ix_chunks_embedding_hnsw"
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults


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
        model = self._embedder.model_id
        if live_model(uow.session) not in (None, model):  # a migration's pending or previous model
            return [
                Scored(cid, score)
                for cid, score in _side_search(uow.session, scope, filters, query, k, model)
            ]
        found = self._search(uow.session, scope, filters, query, k, exact=self.exact)
        if len(found) < k and not self.exact:
            # The index gave up early (its scan is bounded), or fewer than k chunks are readable: only an
            # exact search can tell, and it guarantees that a readable chunk is never missed.
            found = self._search(uow.session, scope, filters, query, k, exact=True)
        if len(found) < k and live_model(uow.session) not in (None, model):
            # A switch committed between the two reads (each statement sees the latest commit here): this
            # model's vectors moved beside the chunks in that transaction, whole.
            found = _side_search(uow.session, scope, filters, query, k, model)
        return [Scored(cid, score) for cid, score in found]

    def _search(
        self,
        session: Session,
        scope: ReaderScope,
        filters: SearchFilters,
        query: npt.NDArray[np.float32],
        k: int,
        *,
        exact: bool,
    ) -> list[tuple[int, float]]:
        """Nearest chunks by cosine distance, as (chunk id, cosine similarity), best first.

        The HNSW index is on `embedding::vector(dimension)`; the query orders by the same expression so the
        planner can use it, with iterative scans so that permission filters do not starve the top k. Only
        vectors of the embedder's model are compared (while a model change re-embeds, others have another
        dimension), a plain column the planner has statistics for.

        What kept the planner off the index before (it sorted a full scan, 440 ms at 100k chunks): a filter
        on `vector_dims(embedding)`, estimated to keep 0.5% of the rows, and the permission check as a join,
        whose two correlated columns made it expect one row (and a hash join never keeps the index's order).
        So the readable versions are a hashed subplan filtering the index scan itself; `IS TRUE` stops the
        planner from turning that back into a join.

        `exact=True` compares every readable chunk instead (index scans off for this query; bitmap scans on
        `version_id` still find the readable chunks): the reference for recall, and the fallback when the
        index returns fewer than `k`."""
        from pgvector.sqlalchemy import Vector

        if exact:
            session.execute(text("SET LOCAL enable_indexscan = off"))
        else:
            session.execute(text(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}"))
            session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        distance = cast(Chunk.embedding, Vector(int(query.shape[0]))).cosine_distance(query.tolist())
        readable = Chunk.version_id.in_(select(Document.indexed_version_id).where(searchable(scope, filters)))
        nearest = (
            select(Chunk.id.label("id"), distance.label("distance"))
            .where(
                readable if exact else readable.is_(True), Chunk.embedding_model == self._embedder.model_id
            )
            .order_by(distance)
            .limit(k)
            .subquery("nearest")
        )
        # relaxed_order may return neighbours slightly out of order: sort the k found.
        ordered = select(nearest.c.id, nearest.c.distance).order_by(nearest.c.distance, nearest.c.id)
        found = [(int(row[0]), 1.0 - float(row[1])) for row in session.execute(ordered)]
        if exact:
            session.execute(text("SET LOCAL enable_indexscan = on"))
        return found

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        """The HNSW index must exist, be valid and cast to the recorded dimension, which every vector has."""
        recorded = uow.index_meta.get(EMBEDDING_DIMENSION_KEY)
        if recorded is None:
            return {"vector_index_missing": 0, "vectors_of_another_dimension": 0}
        dimension = int(recorded)
        other = select(func.count()).where(func.vector_dims(Chunk.embedding) != dimension)
        return {
            "vector_index_missing": int(vector_index_dimension(uow.session) != dimension),
            "vectors_of_another_dimension": int(uow.session.scalar(other) or 0),
        }

    def rebuild(self, database: Database) -> None:
        """Build the HNSW index beside the old one, concurrently, and swap it in."""
        rebuild_vector_index(database.engine, self._embedder.dimension)


def _side_search(
    session: Session,
    scope: ReaderScope,
    filters: SearchFilters,
    query: npt.NDArray[np.float32],
    k: int,
    model: str,
) -> list[tuple[int, float]]:
    """Nearest chunks by the vectors of `model` kept in `chunk_vectors` (no HNSW index: an exact scan of
    the readable chunks; used by a migration's evaluation, and by servers not restarted after a switch)."""
    from pgvector.sqlalchemy import Vector

    distance = cast(ChunkVector.embedding, Vector(int(query.shape[0]))).cosine_distance(query.tolist())
    readable = Chunk.version_id.in_(select(Document.indexed_version_id).where(searchable(scope, filters)))
    nearest = (
        select(Chunk.id, distance.label("distance"))
        .join(ChunkVector, and_(ChunkVector.chunk_id == Chunk.id, ChunkVector.embedding_model == model))
        .where(readable)
        .order_by(distance, Chunk.id)
        .limit(k)
    )
    return [(int(row[0]), 1.0 - float(row[1])) for row in session.execute(nearest)]


# ---------- the HNSW index (DDL needs its own connection to run concurrently) ----------


def vector_index_dimension(session: Session) -> int | None:
    """The dimension the HNSW index casts to, or None when there is no valid index."""
    row = session.execute(
        text(
            "SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name"
        ),
        {"name": HNSW_INDEX},
    ).first()
    if row is None or not row[1]:
        return None
    definition = str(row[0])
    marker = "vector("
    start = definition.find(marker)
    if start < 0:
        return None
    digits = definition[start + len(marker) :].split(")", 1)[0]
    return int(digits) if digits.isdigit() else None


def ensure_vector_index(session: Session, dimension: int) -> None:
    """Create the HNSW index over `embedding::vector(dimension)` if it is missing (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(_create_index_sql(dimension, concurrently=False)))


def rebuild_vector_index(engine: Engine, dimension: int) -> None:
    """Build the HNSW index again without blocking readers or writers (CREATE/DROP INDEX CONCURRENTLY).

    A new index is built beside the old one and swapped in, so searches keep their index meanwhile."""
    if engine.dialect.name != "postgresql":
        return
    fresh = HNSW_INDEX + "_new"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {fresh}"))
        connection.execute(text(_create_index_sql(dimension, concurrently=True, name=fresh)))
        connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {HNSW_INDEX}"))
        connection.execute(text(f"ALTER INDEX {fresh} RENAME TO {HNSW_INDEX}"))


def drop_vector_index(engine: Engine) -> None:
    """Drop the HNSW index (before vectors of another dimension are written), without blocking readers."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {HNSW_INDEX}"))


def _create_index_sql(dimension: int, *, concurrently: bool, name: str = HNSW_INDEX) -> str:
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {name} ON chunks USING hnsw "
        f"((embedding::vector({int(dimension)})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
