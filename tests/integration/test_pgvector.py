"""The scaled profile's vector search: the query it sends can walk the HNSW index (an earlier form could
not, and sorted a full scan instead), and a reader whose readable chunks the index scan does not reach
still gets them, from the exact fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text

from docent.container import Container, build_container
from docent.search.backends.postgres import HNSW_INDEX, PgVectorIndex
from docent.types import ReaderScope, SearchFilters
from tests.conftest import TEST_HASHER, make_settings
from tests.integration.test_memory_indexes import add_org

TEXTS = [f"Document number {i} about topic {i % 7}" for i in range(60)]


@pytest.fixture
def container(postgres_database_url: str, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    built = build_container(
        make_settings(postgres_database_url, tmp_path, embedded_worker=False),
        embedder=embedder,
        hasher=TEST_HASHER,
    )
    with built.database.unit_of_work() as uow:
        uow.session.execute(
            text(f"CREATE INDEX {HNSW_INDEX} ON chunks USING hnsw ((embedding::vector(4)) vector_cosine_ops)")
        )
        uow.commit()
    yield built
    built.close()


def pgvector_statements(container: Container, run: Any) -> list[tuple[str, Any]]:
    """The statements (with parameters) that order by cosine distance, sent while `run` runs."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "<=>" in statement:
            seen.append((statement, parameters))

    event.listen(container.database.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(container.database.engine, "before_cursor_execute", capture)
    return seen


def search(container: Container, index: PgVectorIndex, scope: ReaderScope, k: int) -> list[int]:
    query = np.asarray([0.5, 0.5, 0.5, 0.5], dtype=np.float32)
    with container.database.unit_of_work(write=False) as uow:
        return [s.chunk_id for s in index.search(uow, scope, query, k, SearchFilters())]


def test_the_vector_query_can_walk_the_hnsw_index(container: Container) -> None:
    scope, _ = add_org(container, TEXTS)  # rows written directly, each with the same 4-d test vector
    index = PgVectorIndex(FourDimensions())  # type: ignore[arg-type]
    statements = pgvector_statements(container, lambda: search(container, index, scope, 10))
    assert statements
    statement, parameters = statements[0]
    with container.database.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")  # a small table: ask whether it *can*
        plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters))
    assert HNSW_INDEX in plan, plan


def test_a_reader_of_few_chunks_gets_them_all_from_the_exact_fallback(container: Container) -> None:
    scope, _ = add_org(container, TEXTS[:3])
    index = PgVectorIndex(FourDimensions())  # type: ignore[arg-type]
    statements = pgvector_statements(container, lambda: search(container, index, scope, 10))
    assert len(search(container, index, scope, 10)) == 3
    assert len(statements) == 2  # the index walk found fewer than 10, so the exact search ran too


class FourDimensions:
    """What PgVectorIndex asks of its embedder, for the rows `add_org` writes: model "test", 4 dimensions."""

    model_id = "test"
    dimension = 4
