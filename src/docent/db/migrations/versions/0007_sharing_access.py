"""sharing after upload, scoped API keys, and the record of who was shown what

Revision ID: 0007_sharing_access
Revises: 0005_error_codes
Create Date: 2026-12-02 12:45:00

* `document_user_shares`: single users a document is shared with, whatever its visibility;
* `api_keys.scopes` (existing keys keep every scope they had) and `api_keys.expires_at`;
* `access_records`: every chunk shown, by whom, when and through which route;
* SQLite triggers: the in-memory indexes' permission masks now also depend on user shares and on tags
  (a tag filter's mask), which can change after upload.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sharing_access"
down_revision = "0006_chunk_context"
branch_labels = None
depends_on = None

PERMISSIONS = "permissions_generation"
_TRIGGERS = [
    ("document_user_shares", "INSERT"),
    ("document_user_shares", "DELETE"),
    ("document_user_shares", "UPDATE"),
    ("document_tags", "INSERT"),
    ("document_tags", "DELETE"),
    ("document_tags", "UPDATE"),
]


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.lower()}_generation"


def upgrade() -> None:
    op.create_table(
        "document_user_shares",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_user_shares_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_document_user_shares_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("document_id", "user_id", name=op.f("pk_document_user_shares")),
    )
    op.create_index(op.f("ix_document_user_shares_user_id"), "document_user_shares", ["user_id"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=100), nullable=False, server_default="read write admin")
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "access_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("route", sa.String(length=100), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("chunk_id", sa.BigInteger(), nullable=True),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_records")),
    )
    op.create_index(
        "ix_access_records_org_document_at", "access_records", ["org_id", "document_id", "shown_at"]
    )
    op.create_index("ix_access_records_org_user_at", "access_records", ["org_id", "user_id", "shown_at"])
    op.create_index("ix_access_records_shown_at", "access_records", ["shown_at"])
    if op.get_bind().dialect.name == "sqlite":
        for table, event in _TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} BEGIN "
                f"UPDATE index_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = '{PERMISSIONS}'; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, event in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}")
    op.drop_table("access_records")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
    op.drop_index(op.f("ix_document_user_shares_user_id"), table_name="document_user_shares")
    op.drop_table("document_user_shares")
