"""`docent index check` and `rebuild`: the SQL rows are the truth; everything else must agree with them.

Check counts every kind of disagreement: chunks no search may use, keyword rows without a chunk (and
chunks without one), vectors of another model than the index's, files without a record, records without
a file, and, given the vector index, whatever it holds that the chunks do not say (matrix rows missing,
extra or stale; a missing HNSW index, vectors of another dimension). Rebuild removes the strays,
re-derives the keyword index, re-embeds vectors of another model, builds the vector index again and
removes files nothing refers to; it works in short transactions, so the service keeps answering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from docent.db.repositories import chunk_vectors
from docent.db.repositories.index_meta import (
    EMBEDDING_DIMENSION_KEY,
    EMBEDDING_MODEL_KEY,
    MIGRATION_MODEL_KEY,
    PREVIOUS_MODEL_KEY,
)
from docent.db.uow import Database, UnitOfWork
from docent.llm.ports import Embedder
from docent.search.backends.postgres import drop_vector_index, ensure_vector_index
from docent.search.ports import KeywordIndex, VectorIndex
from docent.storage.blobs import BlobStore

__all__ = [  # the keys live with the other index metadata; importers of them here keep working
    "EMBEDDING_DIMENSION_KEY",
    "EMBEDDING_MODEL_KEY",
    "IndexReport",
    "check_index",
    "index_model_mismatch",
    "rebuild_index",
    "record_index_model",
]
# A file stored for an upload whose transaction has not committed yet looks unreferenced for a moment.
FILE_GRACE_SECONDS = 600.0


@dataclass
class IndexReport:
    chunks: int = 0
    embedding_model: str | None = None
    problems: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())


def index_model_mismatch(database: Database, model_id: str) -> str | None:
    """Why vectors of `model_id` cannot join the index, or None when they can."""
    with database.unit_of_work(write=False) as uow:
        recorded = uow.index_meta.get(EMBEDDING_MODEL_KEY)
        previous = uow.index_meta.get(PREVIOUS_MODEL_KEY)
        pending = uow.index_meta.get(MIGRATION_MODEL_KEY)
    if recorded is None or recorded == model_id:
        return None
    if previous == model_id:  # switched from: its vectors are kept, searches use them until a restart
        return None
    if pending == model_id:
        return (
            f"{model_id} is the model of a migration in progress; the live model is {recorded}: keep "
            f"DOCENT_EMBEDDER={recorded} until `docent index migrate --switch`."
        )
    return (
        f"The index holds vectors of {recorded}, but the embedder is {model_id}: run `docent index rebuild` "
        f"to re-embed every chunk with {model_id}, or set DOCENT_EMBEDDER back to {recorded}."
    )


def record_index_model(uow: UnitOfWork, model_id: str, dimension: int) -> None:
    """Record which model makes the index's vectors, and create the HNSW index for its dimension
    (PostgreSQL; cheap when it happens with the first chunks)."""
    uow.index_meta.set(EMBEDDING_MODEL_KEY, model_id)
    uow.index_meta.set(EMBEDDING_DIMENSION_KEY, str(dimension))
    ensure_vector_index(uow.session, dimension)


def check_index(
    database: Database,
    blobs: BlobStore,
    vectors: VectorIndex | None = None,
    keywords: KeywordIndex | None = None,
) -> IndexReport:
    with database.unit_of_work(write=False) as uow:
        model = uow.index_meta.get(EMBEDDING_MODEL_KEY)
        report = IndexReport(chunks=uow.chunks.count(), embedding_model=model)
        report.problems = {
            "chunks_without_live_version": len(uow.chunks.stray_ids()),
            "keyword_rows_without_chunk": uow.chunks.keyword_rows_without_chunk(),
            "chunks_without_keyword_row": uow.chunks.chunks_without_keyword_row(),
            "vectors_of_another_model": uow.chunks.count_vectors_not_of(model) if model else 0,
            "vectors_beside_of_no_migration": chunk_vectors.count_strays(uow.session, _kept_beside(uow)),
        }
        referenced = uow.documents.all_storage_keys()
        for index in (vectors, keywords):
            if index is not None:
                report.problems.update(index.check(uow))
    stored = set(blobs.keys())
    report.problems["files_without_record"] = len(stored - referenced)
    report.problems["records_without_file"] = len(referenced - stored)
    return report


def rebuild_index(
    database: Database,
    blobs: BlobStore,
    embedder: Embedder,
    *,
    vectors: VectorIndex | None = None,
    keywords: KeywordIndex | None = None,
    batch_size: int = 256,
) -> IndexReport:
    with database.unit_of_work() as uow:
        uow.chunks.delete_ids(uow.chunks.stray_ids())
        chunk_vectors.drop_strays(uow.session, _kept_beside(uow))
        uow.chunks.rebuild_keyword_index()
        uow.commit()
        recorded = uow.index_meta.get(EMBEDDING_DIMENSION_KEY)
    if recorded is not None and recorded != str(embedder.dimension):
        drop_vector_index(database.engine)  # its expression casts to the old dimension
    _reembed(database, embedder, batch_size)
    for index in (vectors, keywords):
        if index is not None:
            index.rebuild(database)
    _remove_unreferenced_files(database, blobs)
    return check_index(database, blobs, vectors, keywords)


def _kept_beside(uow: UnitOfWork) -> set[str]:
    """Models whose vectors `chunk_vectors` may hold: a migration's pending model and the previous one."""
    models = (uow.index_meta.get(MIGRATION_MODEL_KEY), uow.index_meta.get(PREVIOUS_MODEL_KEY))
    return {model for model in models if model is not None}


def _reembed(database: Database, embedder: Embedder, batch_size: int) -> None:
    """Vectors of another model are made again, batch by batch; then the index records the new model."""
    while True:
        with database.unit_of_work(write=False) as uow:
            stale = uow.chunks.ids_not_of_model(embedder.model_id, batch_size)
        if not stale:
            break
        vectors = embedder.embed([text for _, text in stale])
        with database.unit_of_work() as uow:
            uow.chunks.set_vectors(
                embedder.model_id, {cid: v for (cid, _), v in zip(stale, vectors, strict=True)}
            )
            uow.commit()
    with database.unit_of_work() as uow:
        uow.index_meta.set(EMBEDDING_MODEL_KEY, embedder.model_id)
        uow.index_meta.set(EMBEDDING_DIMENSION_KEY, str(embedder.dimension))
        uow.commit()


def _remove_unreferenced_files(database: Database, blobs: BlobStore) -> None:
    with database.unit_of_work(write=False) as uow:
        referenced = uow.documents.all_storage_keys()
    cutoff = time.time() - FILE_GRACE_SECONDS
    for key in set(blobs.keys()) - referenced:
        if blobs.path_of(key).stat().st_mtime < cutoff:
            blobs.delete(key)
