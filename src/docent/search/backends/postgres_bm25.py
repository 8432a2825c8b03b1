"""The scaled profile's keyword search: BM25 computed in SQL from the generated `text_search` tsvector
(english) and its GIN index.

BM25 rather than ts_rank or ts_rank_cd, which weigh neither term rarity nor length the way BM25 does and
rank worse (SciFact nDCG@10 0.41 against 0.69). Every query applies the reader's permission filter and the
search filters (`searchable`) inside SQL, before the LIMIT, and reads only the chunks of a document's
indexed version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Float, String, cast, func, literal_column, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session

from docent.db.repositories.search import live_chunk, searchable
from docent.db.tables import Chunk, Document
from docent.db.uow import Database, UnitOfWork
from docent.search.ports import BM25_B, BM25_K1, Scored
from docent.types import ReaderScope, SearchFilters

_BOUNDED = 1000  # the best lower bounds looked at for the k-th readable one (at least 10 k)


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
    scores reveal nothing of other tenants; a chunk's length is its token count. The permission filter and
    the search filters apply before the top k.

    Scoring a chunk reads its tsvector, the expensive part; a natural-language query matches about half of
    all chunks. So the statement first reads only which chunks hold which term (the GIN index and the
    narrow heap rows), and from that bounds each chunk's score: a term it holds adds at least its
    BM25 weight at tf 1 and at most idf x (k1 + 1), BM25's limit as tf grows. The k-th best lower bound
    among readable chunks is a score the top k must reach, so only the chunks whose upper bound reaches
    it (a few hundred) are scored from their tsvectors, and the result is the same as scoring every chunk.
    When fewer than k of the best `_BOUNDED` lower bounds are readable, every readable chunk is scored."""
    if not lexemes:
        return []
    k1, b = parameters
    vector: ColumnElement[Any] = literal_column("chunks.text_search")
    organisation = (
        select(
            cast(func.count(), Float).label("total"), cast(func.avg(Chunk.token_count), Float).label("mean")
        )
        .where(Chunk.org_id == scope.org_id)
        .cte("organisation")
    )
    terms = (
        func.unnest(
            cast(list(lexemes), ARRAY(String)),
            cast([_tsquery([lexeme]) for lexeme in lexemes], ARRAY(String)),
        )
        .table_valued("lexeme", "query", name="terms")
        .render_derived()
    )
    holding = (
        select(Chunk.id, Chunk.token_count)
        .where(Chunk.org_id == scope.org_id, vector.op("@@")(cast(terms.c.query, TSQUERY)))
        .lateral("holding")
    )
    postings = (
        select(terms.c.lexeme, holding.c.id, holding.c.token_count.label("length"))
        .select_from(terms)
        .join(holding, true())
        .cte("postings")
    )
    df = func.count()
    frequency = (
        select(
            postings.c.lexeme,
            func.ln(1.0 + (organisation.c.total - df + 0.5) / (df + 0.5)).label("idf"),
        )
        .select_from(postings)
        .join(organisation, true())
        .group_by(postings.c.lexeme, organisation.c.total)
        .cte("frequency")
    )

    def length_norm(length: ColumnElement[Any]) -> ColumnElement[Any]:
        return k1 * (1 - b + b * length / organisation.c.mean)

    bounds = (
        select(
            postings.c.id,
            (func.sum(frequency.c.idf) * (k1 + 1)).label("upper"),
            func.sum(frequency.c.idf * (k1 + 1) / (1 + length_norm(postings.c.length))).label("lower"),
        )
        .select_from(postings)
        .join(frequency, frequency.c.lexeme == postings.c.lexeme)
        .join(organisation, true())
        .group_by(postings.c.id)
        .cte("bounds")
    )

    def readable(chunk_id: ColumnElement[Any], *columns: Any) -> Any:
        """The chunk, if the reader may search it; a lateral lookup by primary key, one per bound."""
        return (
            select(*columns)
            .select_from(Chunk)
            .join(Document, live_chunk())
            .where(Chunk.id == chunk_id, searchable(scope, filters))
            .lateral()
        )

    best = select(bounds).order_by(bounds.c.lower.desc()).limit(max(_BOUNDED, 10 * k)).subquery("best")
    best_readable = (
        select(best.c.lower)
        .select_from(best)
        .join(readable(best.c.id, Chunk.id), true())
        .order_by(best.c.lower.desc())
        .limit(k)
        .subquery("best_readable")
    )
    threshold = select(func.min(best_readable.c.lower)).having(func.count() >= k).scalar_subquery()
    candidate = readable(bounds.c.id, Chunk.id, Chunk.token_count, vector.label("terms"))
    candidates = (
        select(candidate)
        .select_from(bounds)
        .join(candidate, true())
        .where(bounds.c.upper >= func.coalesce(threshold, 0.0))
        .cte("candidates")
    )
    # Only the query's entries of a tsvector are unnested: `setweight` marks them, `ts_filter` keeps them.
    query_terms = cast(list(lexemes), ARRAY(String))
    only_query_terms = func.ts_filter(
        func.setweight(candidates.c.terms, literal_column("'A'"), query_terms), literal_column("'{a}'")
    )
    entries = func.unnest(only_query_terms).table_valued("lexeme", "positions").lateral("entries")
    tf = func.cardinality(entries.c.positions)
    score = func.sum(frequency.c.idf * tf * (k1 + 1) / (tf + length_norm(candidates.c.token_count)))
    ranked = (
        select(candidates.c.id, score)
        .select_from(candidates)
        .join(entries, true())
        .join(frequency, frequency.c.lexeme == entries.c.lexeme)
        .join(organisation, true())
        .group_by(candidates.c.id)
        .order_by(score.desc(), candidates.c.id)
        .limit(k)
    )
    return [(int(row[0]), float(row[1])) for row in session.execute(ranked)]


def _tsquery(lexemes: Sequence[str]) -> str:
    """An OR of lexemes in tsquery's own syntax; each is quoted, so no operator inside one is read."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)
