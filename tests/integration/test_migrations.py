"""Migrations upgrade from empty, step down and up again, and match the models, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.tables import Base


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    engine = build_engine(empty_database_url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.is_up_to_date(engine)
        tables = set(inspect(engine).get_table_names())
        assert {
            "organizations",
            "users",
            "groups",
            "group_memberships",
            "api_keys",
            "refresh_tokens",
            "token_families",
            "audit_events",
        } <= tables

        head = migrate.head_revision(engine)
        migrate.downgrade(engine, "-1")
        assert migrate.current_revision(engine) != head
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == head
    finally:
        engine.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    engine = build_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": _not_keyword_index}
            )
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def _not_keyword_index(name: str | None, kind: str, _parent: object) -> bool:
    """The keyword index is the database's own (FTS5 tables, a generated tsvector column), not a model."""
    if kind == "table":
        return not (name or "").startswith("chunks_fts")
    return not (kind == "column" and name == "text_search") and not (
        kind == "index" and name == "ix_chunks_text_search"
    )


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path: object) -> None:
    engine = build_engine(f"sqlite:///{tmp_path}/pragmas.db")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
