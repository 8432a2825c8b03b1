"""Retrieval SQL: which documents a reader may search, keyword ranking on both databases, the pgvector
query and its HNSW index, and what the in-memory vector matrix reads to stay in step with the chunks.

Every query here applies the reader's permission filter (and the search filters) inside SQL, before any
LIMIT, and reads only the chunks of a document's indexed version.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
    LargeBinary,
    Select,
    String,
    and_,
    cast,
    column,
    exists,
    false,
    func,
    literal_column,
    not_,
    select,
    table,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session, aliased, defer

from docent.db.repositories.documents import readable_by
from docent.db.repositories.index_meta import CHUNKS_GENERATION_KEY, PERMISSIONS_GENERATION_KEY
from docent.db.tables import Chunk, Document, DocumentTag, DocumentVersion, IndexMeta
from docent.types import ReaderScope

HNSW_INDEX = "ix_chunks_embedding_hnsw"
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64  # pgvector's defaults
_FTS = table("chunks_fts", column("rowid", Integer), column("text", String))
# BM25 as Lucene (and Anserini's published BEIR baselines) computes it.
BM25_K1 = 0.9
BM25_B = 0.4


@dataclass(frozen=True)
class SearchFilters:
    """Narrow a search; every list means "any of", and all given filters must hold."""

    tags: tuple[str, ...] = ()
    document_ids: tuple[uuid.UUID, ...] = ()
    content_types: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class ChunkHit:
    """A chunk row with what a search result shows about its document."""

    chunk: Chunk
    title: str
    version: int
    content_type: str


class Generations(NamedTuple):
    chunks: int
    permissions: int


@dataclass(frozen=True)
class ChunkStamp:
    """What a chunk's vector and permission depend on: if these are unchanged, its matrix row is right."""

    chunk_id: int
    document_key: str  # the document id as 32 hex digits
    text_hash: str
    org_key: str  # the organisation id as 32 hex digits


def document_key(value: Any) -> str:
    """A document id as 32 hex digits, whether the driver gave a UUID or SQLite's stored text."""
    return value.hex if isinstance(value, uuid.UUID) else str(value).replace("-", "")


def searchable(scope: ReaderScope, filters: SearchFilters) -> ColumnElement[bool]:
    """Documents the reader may read that pass the filters and have an indexed version."""
    conditions: list[ColumnElement[bool]] = [readable_by(scope), Document.indexed_version_id.is_not(None)]
    if filters.document_ids:
        conditions.append(Document.id.in_(filters.document_ids))
    if filters.tags:
        conditions.append(
            exists().where(DocumentTag.document_id == Document.id, DocumentTag.tag.in_(filters.tags))
        )
    if filters.content_types:
        indexed = aliased(DocumentVersion)  # the statement may join DocumentVersion itself
        conditions.append(
            exists()
            .where(indexed.id == Document.indexed_version_id, indexed.content_type.in_(filters.content_types))
            .correlate(Document)
        )
    if filters.created_after is not None:
        conditions.append(Document.created_at >= filters.created_after)
    if filters.created_before is not None:
        conditions.append(Document.created_at < filters.created_before)
    return and_(*conditions)


def _live_chunk() -> ColumnElement[bool]:
    return and_(Document.id == Chunk.document_id, Chunk.version_id == Document.indexed_version_id)


class SearchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    # ---------- rows of results ----------

    def hits(
        self, scope: ReaderScope, filters: SearchFilters, chunk_ids: Sequence[int]
    ) -> dict[int, ChunkHit]:
        """The given chunks that exist now and that the reader may see; any other id is left out."""
        if not chunk_ids:
            return {}
        query = (
            select(Chunk, Document.title, DocumentVersion.number, DocumentVersion.content_type)
            .join(Document, _live_chunk())
            .join(DocumentVersion, DocumentVersion.id == Chunk.version_id)
            .where(Chunk.id.in_(list(chunk_ids)), searchable(scope, filters))
            .options(defer(Chunk.embedding))
        )
        return {
            row[0].id: ChunkHit(chunk=row[0], title=row[1], version=row[2], content_type=row[3])
            for row in self.session.execute(query)
        }

    def searchable_document_keys(self, scope: ReaderScope, filters: SearchFilters) -> list[str]:
        """Ids (32 hex digits) of the documents the reader may search; read through Core, no ORM rows."""
        query = select(type_coerce(Document.id, String)).where(searchable(scope, filters))
        return self._keys(query)

    def unsearchable_document_keys(self, scope: ReaderScope) -> list[str]:
        """Ids of the documents of the reader's organisation that the reader may not search: usually far
        fewer than those it may. NULL is read as "may not" (e.g. a document whose owner was removed)."""
        query = select(type_coerce(Document.id, String)).where(
            Document.org_id == scope.org_id, not_(func.coalesce(searchable(scope, SearchFilters()), false()))
        )
        return self._keys(query)

    def _keys(self, query: Select[Any]) -> list[str]:
        values = self.session.connection().execute(query).scalars().all()
        if self.dialect == "sqlite":  # stored as 32 hex digits already
            return list(values)
        return [document_key(value) for value in values]

    # ---------- keyword: SQLite FTS5 ----------

    def fts5_search(
        self, scope: ReaderScope, filters: SearchFilters, match: str, k: int
    ) -> list[tuple[int, float]]:
        """Chunks matching the FTS5 expression, best BM25 first, as (chunk id, score > 0)."""
        rank = func.bm25(literal_column("chunks_fts"))
        query = (
            select(Chunk.id, rank)
            .select_from(_FTS)
            .join(Chunk, Chunk.id == _FTS.c.rowid)
            .join(Document, _live_chunk())
            .where(literal_column("chunks_fts").op("MATCH")(match), searchable(scope, filters))
            .order_by(rank, Chunk.id)
            .limit(k)
        )
        return [(int(row[0]), -float(row[1])) for row in self.session.execute(query)]

    # ---------- keyword: PostgreSQL full text, ranked by BM25 ----------

    def query_lexemes(self, query: str) -> list[str]:
        """The query's lexemes as the chunks' tsvector has them (english stemming, stop words gone)."""
        statement = text("SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', :q))")
        return sorted(str(lexeme) for lexeme in self.session.scalars(statement, {"q": query}))

    def bm25_search(
        self, scope: ReaderScope, filters: SearchFilters, lexemes: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """Chunks holding any of the lexemes, ranked by BM25, in one statement.

        Statistics (chunk count, mean length, document frequency) cover the reader's organisation only,
        so scores reveal nothing of other tenants. Term frequencies are the positions the tsvector keeps
        for each query lexeme (`setweight` + `ts_filter` cut it down to those first, in C, so only a few
        entries per chunk are unnested); a chunk's length is its token count. The permission filter and the
        search filters apply to the scored rows before the top k."""
        if not lexemes:
            return []
        org = scope.org_id
        total, mean_length = self.session.execute(
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
        norm = BM25_K1 * (1 - BM25_B + BM25_B * matching.c.length / float(mean_length or 1.0))
        score = func.sum(idf * tf * (BM25_K1 + 1) / (tf + norm))
        query = (
            select(matching.c.id, score)
            .join(frequency, frequency.c.lexeme == matching.c.lexeme)
            .join(
                Document,
                and_(
                    Document.id == matching.c.document_id,
                    Document.indexed_version_id == matching.c.version_id,
                ),
            )
            .where(searchable(scope, filters))
            .group_by(matching.c.id)
            .order_by(score.desc(), matching.c.id)
            .limit(k)
        )
        return [(int(row[0]), float(row[1])) for row in self.session.execute(query)]

    # ---------- vectors: pgvector ----------

    def pgvector_search(
        self,
        scope: ReaderScope,
        filters: SearchFilters,
        vector: Sequence[float],
        k: int,
        *,
        dimension: int,
        model_id: str,
        ef_search: int,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        """Nearest chunks by cosine distance, as (chunk id, cosine similarity), best first.

        The HNSW index is on `embedding::vector(dimension)`; the query orders by the same expression so the
        planner can use it, with iterative scans so that permission filters do not starve the top k. Only
        vectors of `model_id` are compared (while a model change re-embeds, others have another dimension),
        a plain column the planner has statistics for.

        What kept the planner off the index before (it sorted a full scan, 440 ms at 100k chunks): a filter
        on `vector_dims(embedding)`, estimated to keep 0.5% of the rows, and the permission check as a join,
        whose two correlated columns made it expect one row (and a hash join never keeps the index's order).
        So the readable versions are a hashed subplan filtering the index scan itself; `IS TRUE` stops the
        planner from turning that back into a join.

        `exact=True` compares every readable chunk instead (index scans off for this query; bitmap scans on
        `version_id` still find the readable chunks): the reference for recall, and what `PgVectorIndex`
        falls back to when the index returns fewer than `k`."""
        from pgvector.sqlalchemy import Vector

        if exact:
            self.session.execute(text("SET LOCAL enable_indexscan = off"))
        else:
            self.session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
            self.session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        distance = cast(Chunk.embedding, Vector(dimension)).cosine_distance(list(vector))
        live_versions = select(Document.indexed_version_id).where(searchable(scope, filters))
        readable = Chunk.version_id.in_(live_versions)
        nearest = (
            select(Chunk.id.label("id"), distance.label("distance"))
            .where(readable if exact else readable.is_(True), Chunk.embedding_model == model_id)
            .order_by(distance)
            .limit(k)
            .subquery("nearest")
        )
        # relaxed_order may return neighbours slightly out of order: sort the k found.
        query = select(nearest.c.id, nearest.c.distance).order_by(nearest.c.distance, nearest.c.id)
        found = [(int(row[0]), 1.0 - float(row[1])) for row in self.session.execute(query)]
        if exact:
            self.session.execute(text("SET LOCAL enable_indexscan = on"))
        return found

    def vectors_of_other_dimension(self, dimension: int) -> int:
        query = select(func.count()).where(func.vector_dims(Chunk.embedding) != dimension)
        return int(self.session.scalar(query) or 0)

    def vector_index_dimension(self) -> int | None:
        """The dimension the HNSW index casts to, or None when there is no valid index."""
        row = self.session.execute(
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

    # ---------- the in-memory indexes ----------

    def generations(self) -> Generations:
        """The counters SQLite's triggers keep (both 0 where there are none, as on PostgreSQL)."""
        keys = (CHUNKS_GENERATION_KEY, PERMISSIONS_GENERATION_KEY)
        query = select(IndexMeta.key, IndexMeta.value).where(IndexMeta.key.in_(keys))
        values = {str(row[0]): row[1] for row in self.session.execute(query)}
        return Generations(int(values.get(keys[0]) or 0), int(values.get(keys[1]) or 0))

    def chunk_stamps(self, model_id: str | None = None) -> list[ChunkStamp]:
        """Every chunk (of one embedding model, if given), by id."""
        query = (
            select(
                Chunk.id,
                type_coerce(Chunk.document_id, String),
                Chunk.text_hash,
                type_coerce(Chunk.org_id, String),
            )
            .where(Chunk.embedding_model == model_id if model_id is not None else true())
            .order_by(Chunk.id)
        )
        rows = self.session.connection().execute(query)
        return [ChunkStamp(int(r[0]), document_key(r[1]), str(r[2]), document_key(r[3])) for r in rows]

    def texts(self, chunk_ids: Iterable[int]) -> dict[int, str]:
        ids = list(chunk_ids)
        found: dict[int, str] = {}
        for start in range(0, len(ids), 500):
            query = select(Chunk.id, Chunk.text).where(Chunk.id.in_(ids[start : start + 500]))
            found.update((int(row[0]), str(row[1])) for row in self.session.execute(query))
        return found

    def vectors(self, chunk_ids: Iterable[int]) -> dict[int, Any]:
        """Stored vectors by chunk id (raw float32 bytes on SQLite, arrays on PostgreSQL)."""
        ids = list(chunk_ids)
        found: dict[int, Any] = {}
        raw = type_coerce(Chunk.embedding, LargeBinary) if self.dialect == "sqlite" else Chunk.embedding
        for start in range(0, len(ids), 500):
            query = select(Chunk.id, raw).where(Chunk.id.in_(ids[start : start + 500]))
            found.update((int(row[0]), row[1]) for row in self.session.execute(query))
        return found


def _tsquery(lexemes: Sequence[str]) -> str:
    """An OR of lexemes in tsquery's own syntax; each is quoted, so no operator inside one is read."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


# ---------- the HNSW index (DDL needs its own connection to run concurrently) ----------


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
