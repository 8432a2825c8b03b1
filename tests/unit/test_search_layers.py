"""Each search backend owns its queries; the repository in `db` keeps only what every backend shares (the
permission and filter predicate, the rows of results, the generation counters). The search filters are a
domain value, defined where no layer is imported."""

from __future__ import annotations

import inspect

import pytest

import docent.db.repositories.search as shared
from docent.search.backends import fts5, memory_bm25, memory_matrix, memory_rows, postgres, postgres_bm25
from docent.types import SearchFilters

# What gives each backend's SQL away, and the backend that must hold it.
BACKEND_SQL = [
    ("chunks_fts", fts5),
    ("bm25(", fts5),
    ("to_tsvector", postgres_bm25),
    ("ts_filter", postgres_bm25),
    ("hnsw", postgres),
    ("cosine_distance", postgres),
    ("SET LOCAL", postgres),
    ("text_hash", memory_rows),
    ("Chunk.context", memory_bm25),  # the indexed text (context and text); results show only the text
    ("LargeBinary", memory_matrix),
]


@pytest.mark.parametrize(("marker", "owner"), BACKEND_SQL)
def test_backend_sql_lives_in_its_backend_not_in_the_shared_repository(marker: str, owner: object) -> None:
    assert marker not in inspect.getsource(shared)
    assert marker in inspect.getsource(owner)  # type: ignore[arg-type]


def test_the_shared_repository_keeps_the_predicate_the_rows_and_the_generations() -> None:
    public = {name for name in vars(shared.SearchRepository) if not name.startswith("_")}
    assert public == {"hits", "generations"}
    assert callable(shared.searchable)


def test_search_filters_are_a_domain_value() -> None:
    assert SearchFilters.__module__ == "docent.types"
    assert not hasattr(shared, "SearchFilters") or shared.SearchFilters is SearchFilters
