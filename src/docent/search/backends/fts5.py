"""Keyword search on SQLite: the FTS5 table `chunks_fts` (porter stemming, unicode61), ranked by bm25()."""

from __future__ import annotations

from docent.db.repositories.search import SearchFilters
from docent.db.uow import Database, UnitOfWork
from docent.search.ports import Scored
from docent.search.terms import fts5_expression
from docent.types import ReaderScope


class Fts5KeywordIndex:
    """`KeywordIndex` over FTS5. The query becomes an OR of quoted words; bm25() ranks (k1=1.2, b=0.75,
    statistics over the whole table); the permission filter is a join in the same statement."""

    def search(
        self, uow: UnitOfWork, scope: ReaderScope, query: str, k: int, filters: SearchFilters
    ) -> list[Scored]:
        expression = fts5_expression(query)
        if expression is None or k <= 0:
            return []
        return [Scored(cid, score) for cid, score in uow.search.fts5_search(scope, filters, expression, k)]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        return {}  # its rows are SQL: `check_index` compares them with the chunks

    def rebuild(self, database: Database) -> None:
        """Nothing outside SQL: `rebuild_index` re-derives the keyword rows."""
