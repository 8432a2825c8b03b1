from __future__ import annotations

from sqlalchemy.orm import Session

from docent.db.tables import IndexMeta


class IndexMetaRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> str | None:
        row = self.session.get(IndexMeta, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.session.get(IndexMeta, key)
        if row is None:
            self.session.add(IndexMeta(key=key, value=value))
        else:
            row.value = value


# Counters that SQLite triggers keep (migration 0004): any change to the chunks, or to what decides who
# may read a document, adds one in the writing transaction.
CHUNKS_GENERATION_KEY = "chunks_generation"
PERMISSIONS_GENERATION_KEY = "permissions_generation"
# Which embedding model made the index's vectors, and their dimension (the HNSW index casts to it).
EMBEDDING_MODEL_KEY = "embedding_model"
EMBEDDING_DIMENSION_KEY = "embedding_dimension"
# An embedding-model migration (`docent.search.migration`): the pending model, its dimension and how it is
# made; after a switch, the model it replaced, whose vectors are kept for servers not yet restarted.
MIGRATION_MODEL_KEY = "migration_model"
MIGRATION_DIMENSION_KEY = "migration_dimension"
MIGRATION_SPEC_KEY = "migration_embedder"
PREVIOUS_MODEL_KEY = "previous_embedding_model"
