"""generation counters kept by SQLite triggers, for the in-memory search indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:20:00

The in-memory indexes of the embedded profile ask, before each query, whether the chunks or the
permissions they derived from have changed. Triggers count every change inside the writing
transaction, whatever statement or cascade made it, so no code path can forget to. PostgreSQL searches
in SQL directly and needs no counters.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHUNKS = "chunks_generation"
PERMISSIONS = "permissions_generation"

# (table, event, counter): what a derived index's rows (chunks) or its permission masks depend on.
_TRIGGERS = [
    ("chunks", "INSERT", CHUNKS),
    ("chunks", "DELETE", CHUNKS),
    ("chunks", "UPDATE OF text, text_hash, embedding, embedding_model, document_id, org_id", CHUNKS),
    ("documents", "INSERT", PERMISSIONS),
    ("documents", "DELETE", PERMISSIONS),
    ("documents", "UPDATE OF org_id, owner_id, visibility, deleted_at, indexed_version_id", PERMISSIONS),
    ("document_shares", "INSERT", PERMISSIONS),
    ("document_shares", "DELETE", PERMISSIONS),
    ("document_shares", "UPDATE", PERMISSIONS),
]


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.split()[0].lower()}_generation"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for counter in (CHUNKS, PERMISSIONS):
        op.execute(
            "INSERT INTO index_meta(key, value, updated_at) "
            f"VALUES ('{counter}', '0', CURRENT_TIMESTAMP) ON CONFLICT(key) DO NOTHING"
        )
    for table, event, counter in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} BEGIN "
            f"UPDATE index_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = '{counter}'; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, event, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}")
