"""The scaled profile's search: pgvector's HNSW index for vectors, the tsvector column for keywords, and
the SQL of both (the HNSW index's DDL too).

Keyword ranking is BM25 computed in SQL from the tsvector rather than ts_rank or ts_rank_cd, which weigh
neither term rarity nor length the way BM25 does and rank worse. Every query applies the reader's
permission filter and the search filters (`searchable`) inside SQL, before the LIMIT, and reads only the
chunks of a document's indexed version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, Engine, String, and_, cast, func, literal_column, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session

from docent.db.repositories.chunk_vectors import live_model
from docent.db.repositories.index_meta import EMBEDDING_DIMENSION_KEY
from docent.db.repositories.search import searchable
from docent.db.tables import Chunk, ChunkVector, Document
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.ports import BM25_B, BM25_K1, Scored
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


class PostgresKeywordIndex:
    """`KeywordIndex` over the generated `text_search` tsvector (english) and its GIN index, BM25-ranked
    (k1 and b from the settings, statistics over the reader's organisation)."""

    def __init__(self, k1: float = BM25_K1, b: float = BM25_B) -> None:
        self._k1, self._b = k1, b

    def search(
        self, uow: UnitOfWork, scope: ReaderScope, query: str, k: int, filters: SearchFilters
    ) -> list[Scored]:
        if k <= 0 or not query.strip():
            return []
        lexemes = _query_lexemes(uow.session, query)
        found = _bm25(uow.session, scope, filters, lexemes, k, (self._k1, self._b))
        return [Scored(cid, score) for cid, score in found]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        return {}  # its rows are SQL: `check_index` compares them with the chunks

    def rebuild(self, database: Database) -> None:
        """Nothing outside SQL: `rebuild_index` re-derives the keyword rows."""


def _query_lexemes(session: Session, query: str) -> list[str]:
    """The query's lexemes as the chunks' tsvector has them (english stemming, stop words gone)."""
    statement = text("SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', :q))")
    return sorted(str(lexeme) for lexeme in session.scalars(statement, {"q": query}))


def _bm25(
    session: Session,
    scope: ReaderScope,
    filters: SearchFilters,
    lexemes: Sequence[str],
    k: int,
    parameters: tuple[float, float],
) -> list[tuple[int, float]]:
    """Chunks holding any of the lexemes, ranked by BM25, in one statement, as (chunk id, score).

    Statistics (chunk count, mean length, document frequency) cover the reader's organisation only, so
    scores reveal nothing of other tenants. Term frequencies are the positions the tsvector keeps for each
    query lexeme (`setweight` + `ts_filter` cut it down to those first, in C, so only a few entries per
    chunk are unnested); a chunk's length is its token count. The permission filter and the search filters
    apply to the scored rows before the top k."""
    if not lexemes:
        return []
    org = scope.org_id
    total, mean_length = session.execute(
        select(func.count(), func.avg(Chunk.token_count)).where(Chunk.org_id == org)
    ).one()
    if not total:
        return []
    vector: ColumnElement[Any] = literal_column("chunks.text_search")
    query_terms = cast(list(lexemes), ARRAY(String))
    only_query_terms = func.ts_filter(
        func.setweight(vector, literal_column("'A'"), query_terms), literal_column("'{a}'")
    )
    entries = func.unnest(only_query_terms).table_valued("lexeme", "positions").lateral("entries")
    matching = (
        select(
            Chunk.id.label("id"),
            Chunk.document_id.label("document_id"),
            Chunk.version_id.label("version_id"),
            Chunk.token_count.label("length"),
            entries.c.lexeme.label("lexeme"),
            func.cardinality(entries.c.positions).label("tf"),
        )
        .select_from(Chunk)
        .join(entries, true())
        .where(Chunk.org_id == org, vector.op("@@")(cast(_tsquery(lexemes), TSQUERY)))
        .cte("matching")
    )
    frequency = (
        select(matching.c.lexeme, func.count().label("df")).group_by(matching.c.lexeme).cte("frequency")
    )
    idf = func.ln(1.0 + (float(total) - frequency.c.df + 0.5) / (frequency.c.df + 0.5))
    tf = matching.c.tf
    k1, b = parameters
    norm = k1 * (1 - b + b * matching.c.length / float(mean_length or 1.0))
    score = func.sum(idf * tf * (k1 + 1) / (tf + norm))
    live = and_(Document.id == matching.c.document_id, Document.indexed_version_id == matching.c.version_id)
    query = (
        select(matching.c.id, score)
        .join(frequency, frequency.c.lexeme == matching.c.lexeme)
        .join(Document, live)
        .where(searchable(scope, filters))
        .group_by(matching.c.id)
        .order_by(score.desc(), matching.c.id)
        .limit(k)
    )
    return [(int(row[0]), float(row[1])) for row in session.execute(query)]


def _tsquery(lexemes: Sequence[str]) -> str:
    """An OR of lexemes in tsquery's own syntax; each is quoted, so no operator inside one is read."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


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
