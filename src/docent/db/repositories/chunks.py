"""Chunks with their vectors, and the keyword index beside them (FTS5 on SQLite, a generated tsvector on
PostgreSQL). Every write here keeps the three in step inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import Session

from docent.db.tables import Chunk, Document, DocumentVersion
from docent.types import indexed_text


class ChunkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _sqlite(self) -> bool:
        return self.session.get_bind().dialect.name == "sqlite"

    def replace_for_document(self, document_id: uuid.UUID, chunks: Sequence[Chunk]) -> None:
        """Make `chunks` the document's only chunks: earlier versions' and any earlier attempt's go, so a
        retried job never duplicates and no vector outlives the version it was made from."""
        self.delete_for_document(document_id)
        self.session.add_all(chunks)
        self.session.flush()
        if self._sqlite and chunks:
            self.session.execute(
                text("INSERT INTO chunks_fts(rowid, text) VALUES (:id, :text)"),
                [{"id": c.id, "text": indexed_text(c.context or "", c.text)} for c in chunks],
            )

    def delete_for_versions(self, version_ids: Sequence[uuid.UUID]) -> int:
        if not version_ids:
            return 0
        ids = list(self.session.scalars(select(Chunk.id).where(Chunk.version_id.in_(version_ids))))
        self._delete_keyword_rows(ids)
        result = self.session.execute(delete(Chunk).where(Chunk.version_id.in_(version_ids)))
        return int(getattr(result, "rowcount", 0) or 0)

    def delete_for_document(self, document_id: uuid.UUID) -> None:
        ids = list(self.session.scalars(select(Chunk.id).where(Chunk.document_id == document_id)))
        self._delete_keyword_rows(ids)
        self.session.execute(delete(Chunk).where(Chunk.document_id == document_id))

    def _delete_keyword_rows(self, chunk_ids: list[int]) -> None:
        if self._sqlite and chunk_ids:
            self.session.execute(
                text("DELETE FROM chunks_fts WHERE rowid = :id"), [{"id": i} for i in chunk_ids]
            )

    def for_version(self, version_id: uuid.UUID) -> list[Chunk]:
        return list(
            self.session.scalars(select(Chunk).where(Chunk.version_id == version_id).order_by(Chunk.ordinal))
        )

    def page_for_version(self, version_id: uuid.UUID, offset: int, limit: int) -> tuple[list[Chunk], int]:
        total = self.session.scalar(select(func.count()).where(Chunk.version_id == version_id)) or 0
        query = (
            select(Chunk)
            .where(Chunk.version_id == version_id)
            .order_by(Chunk.ordinal)
            .offset(offset)
            .limit(limit)
        )
        return list(self.session.scalars(query)), total

    def reusable_vectors(
        self, document_id: uuid.UUID, model_id: str, text_hashes: set[str]
    ) -> dict[str, Any]:
        """Vectors already computed by this model for identical text in the document's earlier versions."""
        if not text_hashes:
            return {}
        query = select(Chunk.text_hash, Chunk.embedding).where(
            Chunk.document_id == document_id,
            Chunk.embedding_model == model_id,
            Chunk.text_hash.in_(text_hashes),
        )
        return {row.text_hash: row.embedding for row in self.session.execute(query)}

    def source_names(self) -> list[tuple[int, str]]:
        """(chunk id, file name of the version it was cut from), for evaluation against a corpus."""
        query = select(Chunk.id, DocumentVersion.filename).join(
            DocumentVersion, DocumentVersion.id == Chunk.version_id
        )
        return [(row.id, row.filename) for row in self.session.execute(query)]

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Chunk)) or 0

    # ---------- consistency ----------

    def stray_ids(self, limit: int = 100_000) -> list[int]:
        """Chunks no search may use: their document is deleted, or their version is not the indexed one."""
        query = (
            select(Chunk.id)
            .join(Document, Document.id == Chunk.document_id)
            .where(
                or_(
                    Document.deleted_at.is_not(None),
                    Document.indexed_version_id.is_(None),
                    Document.indexed_version_id != Chunk.version_id,
                    Document.org_id != Chunk.org_id,
                )
            )
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def delete_ids(self, chunk_ids: list[int]) -> None:
        for start in range(0, len(chunk_ids), 500):
            part = chunk_ids[start : start + 500]
            self._delete_keyword_rows(part)
            self.session.execute(delete(Chunk).where(Chunk.id.in_(part)))

    def keyword_rows_without_chunk(self) -> int:
        if not self._sqlite:
            return 0  # the tsvector is a generated column of the chunk row itself
        sql = "SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)"
        return int(self.session.execute(text(sql)).scalar() or 0)

    def chunks_without_keyword_row(self) -> int:
        if not self._sqlite:
            return 0
        sql = "SELECT count(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_fts)"
        return int(self.session.execute(text(sql)).scalar() or 0)

    def count_vectors_not_of(self, model_id: str | None) -> int:
        """Chunks whose vector was made by another model than the index's (or has none)."""
        query = select(func.count()).select_from(Chunk)
        if model_id is not None:
            query = query.where(or_(Chunk.embedding_model != model_id, Chunk.embedding.is_(None)))
        return self.session.scalar(query) or 0

    def rebuild_keyword_index(self) -> None:
        """Re-derive every keyword row from the chunks (SQLite's FTS5 table; PostgreSQL's is generated)."""
        if not self._sqlite:
            return
        self.session.execute(text("DELETE FROM chunks_fts"))
        self.session.execute(
            text(
                "INSERT INTO chunks_fts(rowid, text) SELECT id, "
                "CASE WHEN context = '' THEN text ELSE context || char(10) || text END FROM chunks"
            )
        )

    def ids_not_of_model(self, model_id: str, limit: int) -> list[tuple[int, str]]:
        """Chunks whose vector another model made, with the text to embed (context, then text)."""
        query = (
            select(Chunk.id, Chunk.context, Chunk.text)
            .where(Chunk.embedding_model != model_id)
            .order_by(Chunk.id)
            .limit(limit)
        )
        return [(row.id, indexed_text(row.context, row.text)) for row in self.session.execute(query)]

    def set_vectors(self, model_id: str, vectors: dict[int, Any]) -> None:
        for chunk_id, vector in vectors.items():
            chunk = self.session.get(Chunk, chunk_id)
            if chunk is not None:
                chunk.embedding, chunk.embedding_model = vector, model_id
        if vectors:
            self.session.flush()
