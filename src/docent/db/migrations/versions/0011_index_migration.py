"""index migration: vectors of a second embedding model beside the live ones (`docent index migrate`)

Revision ID: 0011_index_migration
Revises: 0010_identities
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_index_migration"
down_revision = "0010_identities"
branch_labels = None
depends_on = None


def _embedding_type() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    if op.get_bind().dialect.name == "postgresql":
        from pgvector.sqlalchemy import Vector

        return Vector()  # no fixed dimension: the pending model may have another than the live one
    return sa.LargeBinary()


def upgrade() -> None:
    op.create_table(
        "chunk_vectors",
        sa.Column("chunk_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("embedding_model", sa.String(length=200), nullable=False),
        sa.Column("embedding", _embedding_type(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"], ["chunks.id"], name=op.f("fk_chunk_vectors_chunk_id_chunks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chunk_id", "embedding_model", name=op.f("pk_chunk_vectors")),
    )
    op.create_index("ix_chunk_vectors_model_chunk", "chunk_vectors", ["embedding_model", "chunk_id"])


def downgrade() -> None:
    op.drop_index("ix_chunk_vectors_model_chunk", table_name="chunk_vectors")
    op.drop_table("chunk_vectors")
