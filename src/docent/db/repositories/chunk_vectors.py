"""Vectors of a model other than the live one (`chunk_vectors`), and the swap that makes them live.

The live model's vectors stay in `chunks.embedding`, where the HNSW index and the in-memory matrix read
them. A migration writes the pending model's vectors here, batch by batch; `swap` then exchanges the two
in one transaction: the pending vectors go into `chunks`, the live ones come here as the previous model's
(read by servers not yet restarted with the new model), so at no moment do a model's vectors exist nowhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from docent.db.repositories.index_meta import EMBEDDING_MODEL_KEY
from docent.db.tables import Chunk, ChunkVector, IndexMeta
from docent.types import indexed_text


def _has_vector(model_id: str) -> Any:
    return exists().where(ChunkVector.chunk_id == Chunk.id, ChunkVector.embedding_model == model_id)


def live_model(session: Session, *, lock: bool = False) -> str | None:
    """The model whose vectors are in `chunks`, read fresh (not from the session's identity map).

    `lock=True` (PostgreSQL) holds the row until the transaction ends, so that a switch committing meanwhile
    is either wholly before or wholly after the caller's writes."""
    query = select(IndexMeta.value).where(IndexMeta.key == EMBEDDING_MODEL_KEY)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    value = session.scalar(query)
    return str(value) if value is not None else None


def missing(session: Session, model_id: str, limit: int, *, after: int = 0) -> list[tuple[int, str]]:
    """Chunks without a vector of `model_id`, in id order from `after` (exclusive), with the text to embed
    (context, then text)."""
    query = (
        select(Chunk.id, Chunk.context, Chunk.text)
        .where(Chunk.id > after, ~_has_vector(model_id))
        .order_by(Chunk.id)
        .limit(limit)
    )
    return [(int(row.id), indexed_text(row.context, row.text)) for row in session.execute(query)]


def count_missing(session: Session, model_id: str) -> int:
    return int(session.scalar(select(func.count()).select_from(Chunk).where(~_has_vector(model_id))) or 0)


def count_of(session: Session, model_id: str) -> int:
    query = select(func.count()).select_from(ChunkVector).where(ChunkVector.embedding_model == model_id)
    return int(session.scalar(query) or 0)


def add(session: Session, model_id: str, vectors: dict[int, Any]) -> int:
    """Store vectors of chunks that still exist and have none of this model yet; how many were stored."""
    if not vectors:
        return 0
    present = set(
        session.scalars(select(Chunk.id).where(Chunk.id.in_(list(vectors)), ~_has_vector(model_id)))
    )
    rows = [ChunkVector(chunk_id=cid, embedding_model=model_id, embedding=v) for cid, v in vectors.items()]
    session.add_all([row for row in rows if row.chunk_id in present])
    session.flush()
    return len(present)


def drop(session: Session, model_id: str) -> int:
    result = session.execute(delete(ChunkVector).where(ChunkVector.embedding_model == model_id))
    return int(getattr(result, "rowcount", 0) or 0)


def swap(session: Session, live: str, pending: str) -> None:
    """The pending model's vectors into `chunks`, the live model's out to `chunk_vectors` (one statement
    each, inside the caller's transaction; every chunk must have a pending vector, see `count_missing`)."""
    drop(session, live)  # a previous migration's leftovers of the same model
    session.execute(
        insert(ChunkVector).from_select(
            ["chunk_id", "embedding_model", "embedding"],
            select(Chunk.id, literal(live), Chunk.embedding).where(Chunk.embedding_model == live),
        )
    )
    pending_vector = (
        select(ChunkVector.embedding)
        .where(and_(ChunkVector.chunk_id == Chunk.id, ChunkVector.embedding_model == pending))
        .scalar_subquery()
    )
    session.execute(
        update(Chunk)
        .where(_has_vector(pending))
        .values(embedding=pending_vector, embedding_model=pending)
        .execution_options(synchronize_session=False)
    )
    drop(session, pending)


def count_strays(session: Session, kept: set[str]) -> int:
    """Vectors beside the chunks of a model neither migrated to nor switched from (left by a crash or a
    hand edit): nothing reads them."""
    query = select(func.count()).select_from(ChunkVector).where(ChunkVector.embedding_model.not_in(kept))
    return int(session.scalar(query) or 0)


def drop_strays(session: Session, kept: set[str]) -> None:
    session.execute(delete(ChunkVector).where(ChunkVector.embedding_model.not_in(kept)))
