"""The search index's maintenance as one service: what `POST /admin/index/check|rebuild` run."""

from __future__ import annotations

from dataclasses import dataclass

from docent.db.uow import Database
from docent.llm.ports import Embedder
from docent.search.index_check import IndexReport, check_index, rebuild_index
from docent.search.retrieve import Retriever
from docent.storage.blobs import BlobStore


@dataclass(frozen=True)
class IndexMaintenance:
    """Checks and rebuilds run transactions of their own (a rebuild commits in batches)."""

    database: Database
    blobs: BlobStore
    embedder: Embedder
    retriever: Retriever

    def check(self) -> IndexReport:
        """Chunks, vectors, keyword rows and files compared; each problem counted."""
        return check_index(self.database, self.blobs, self.retriever.vectors, self.retriever.keywords)

    def rebuild(self) -> IndexReport:
        """Keyword rows and vectors derived again, strays removed; then checked."""
        vectors, keywords = self.retriever.vectors, self.retriever.keywords
        return rebuild_index(self.database, self.blobs, self.embedder, vectors=vectors, keywords=keywords)
