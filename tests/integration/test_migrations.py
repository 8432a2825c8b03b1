"""Migrations upgrade from empty, step down and up again, and match the models, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select

from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.tables import Base, Document, DocumentVersion, Job, Organization, User


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


def test_error_codes_move_out_of_stored_messages(empty_database_url: str) -> None:
    """0005: a failed job's `[code]` suffix becomes its `error_code`; a version keeps its code, without the
    suffix in its message."""
    engine = build_engine(empty_database_url)
    try:
        migrate.upgrade(engine, "0004")
        org, user, document, version, job, other = (uuid.uuid4() for _ in range(6))
        now = datetime.now(UTC)
        with engine.begin() as connection:
            organization = {"id": org, "name": "O", "slug": "o", "created_at": now}
            connection.execute(insert(Organization), [organization])
            connection.execute(
                insert(User),
                [{"id": user, "org_id": org, "email": "a@example.com", "password_hash": "x", "role": "admin",
                  "is_active": True, "created_at": now, "updated_at": now}],
            )  # fmt: skip
            connection.execute(
                insert(Document),
                [{"id": document, "org_id": org, "owner_id": user, "title": "t", "visibility": "org",
                  "latest_version": 1, "created_at": now, "updated_at": now}],
            )  # fmt: skip
            connection.execute(
                insert(DocumentVersion),
                [{"id": version, "document_id": document, "number": 1, "filename": "a.pdf",
                  "content_type": "application/pdf", "size_bytes": 1, "sha256": "0" * 64,
                  "status": "failed", "error": "The PDF is damaged. [pdf_corrupt]",
                  "error_code": "pdf_corrupt", "created_at": now}],
            )  # fmt: skip
            connection.execute(
                insert(Job),
                [{"id": job, "org_id": org, "kind": "ingest", "status": "failed", "version_id": version,
                  "error": "The PDF is damaged. [pdf_corrupt]", "created_at": now},
                 {"id": other, "org_id": org, "kind": "ingest", "status": "failed", "version_id": version,
                  "error": "embedding failed: [boom]", "created_at": now}],
            )  # fmt: skip
        migrate.upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(select(Job.id, Job.error, Job.error_code))
            jobs = {row[0]: (row[1], row[2]) for row in rows}
            stored = connection.execute(select(DocumentVersion.error, DocumentVersion.error_code)).one()
        assert jobs[job] == ("The PDF is damaged.", "pdf_corrupt")
        assert jobs[other] == ("embedding failed: [boom]", None)  # not a code of its version
        assert tuple(stored) == ("The PDF is damaged.", "pdf_corrupt")
    finally:
        engine.dispose()
