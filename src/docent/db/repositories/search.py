"""What every search backend shares: which documents a reader may search (the permission filter and the
search filters, as one predicate), the rows of the chunks a search found, and the generation counters.

Each backend owns its own queries (FTS5 in `search.backends.fts5`, BM25 over tsvector and pgvector in
`search.backends.postgres`, the in-memory indexes' feeds in `search.backends.memory_*`) and builds them on
`searchable`, so the permission filter applies inside SQL, before any LIMIT, on every path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session, aliased

from docent.db.repositories.documents import readable_by
from docent.db.repositories.index_meta import CHUNKS_GENERATION_KEY, PERMISSIONS_GENERATION_KEY
from docent.db.tables import Chunk, Document, DocumentTag, DocumentVersion, IndexMeta
from docent.types import ReaderScope, SearchFilters


class ChunkHit(NamedTuple):
    """What a search result shows of a chunk and its document (columns, not an ORM row: building ten
    `Chunk` objects was a third of the rows' cost)."""

    chunk_id: int
    document_id: uuid.UUID
    text: str
    page: int | None
    section_path: list[str] | None
    title: str
    version: int
    content_type: str


class Generations(NamedTuple):
    chunks: int
    permissions: int


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


def live_chunk() -> ColumnElement[bool]:
    """Joins a chunk to its document when it belongs to the document's indexed version."""
    return and_(Document.id == Chunk.document_id, Chunk.version_id == Document.indexed_version_id)


class SearchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def hits(
        self, scope: ReaderScope, filters: SearchFilters, chunk_ids: Sequence[int]
    ) -> dict[int, ChunkHit]:
        """The given chunks that exist now and that the reader may see; any other id is left out."""
        if not chunk_ids:
            return {}
        query = (
            select(
                Chunk.id,
                Chunk.document_id,
                Chunk.text,
                Chunk.page,
                Chunk.section_path,
                Document.title,
                DocumentVersion.number,
                DocumentVersion.content_type,
            )
            .join(Document, live_chunk())
            .join(DocumentVersion, DocumentVersion.id == Chunk.version_id)
            .where(Chunk.id.in_(list(chunk_ids)), searchable(scope, filters))
        )
        return {int(row[0]): ChunkHit(*row) for row in self.session.execute(query)}

    def generations(self) -> Generations:
        """The counters SQLite's triggers keep (both 0 where there are none, as on PostgreSQL)."""
        keys = (CHUNKS_GENERATION_KEY, PERMISSIONS_GENERATION_KEY)
        query = select(IndexMeta.key, IndexMeta.value).where(IndexMeta.key.in_(keys))
        values = {str(row[0]): row[1] for row in self.session.execute(query)}
        return Generations(int(values.get(keys[0]) or 0), int(values.get(keys[1]) or 0))
