"""Keyword search on SQLite: the FTS5 table `chunks_fts` (porter stemming, unicode61), ranked by bm25().

The one keyword index whose terms are not `docent.search.terms.analyze`'s: FTS5's own tokenizer makes
them inside SQLite (Porter's first stemmer, no stop words), so a snippet may mark a word FTS5 matched
differently (see `docent.search.terms`).
"""

from __future__ import annotations

from sqlalchemy import Integer, String, column, func, literal_column, select, table

from docent.db.repositories.search import live_chunk, searchable
from docent.db.tables import Chunk, Document
from docent.db.uow import Database, UnitOfWork
from docent.search.ports import Scored
from docent.search.terms import fts5_expression
from docent.types import ReaderScope, SearchFilters

_FTS = table("chunks_fts", column("rowid", Integer), column("text", String))


class Fts5KeywordIndex:
    """`KeywordIndex` over FTS5. The query becomes an OR of quoted words; bm25() ranks (k1=1.2, b=0.75,
    statistics over the whole table); the permission filter is a join in the same statement."""

    def search(
        self, uow: UnitOfWork, scope: ReaderScope, query: str, k: int, filters: SearchFilters
    ) -> list[Scored]:
        expression = fts5_expression(query)
        if expression is None or k <= 0:
            return []
        rank = func.bm25(literal_column("chunks_fts"))
        statement = (
            select(Chunk.id, rank)
            .select_from(_FTS)
            .join(Chunk, Chunk.id == _FTS.c.rowid)
            .join(Document, live_chunk())
            .where(literal_column("chunks_fts").op("MATCH")(expression), searchable(scope, filters))
            .order_by(rank, Chunk.id)
            .limit(k)
        )
        return [Scored(int(row[0]), -float(row[1])) for row in uow.session.execute(statement)]

    def check(self, uow: UnitOfWork) -> dict[str, int]:
        return {}  # its rows are SQL: `check_index` compares them with the chunks

    def rebuild(self, database: Database) -> None:
        """Nothing outside SQL: `rebuild_index` re-derives the keyword rows."""
