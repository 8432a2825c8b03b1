"""user_identities: single sign-on users are found by the provider's (issuer, subject), not by email

Revision ID: 0010_identities
Revises: 0009_sources
Create Date: 2026-12-02 16:45:00

Users who signed in with SSO before this revision have no link yet: at their next sign-in they are linked
by their verified email, as any existing user is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_identities"
down_revision = "0009_sources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_identities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_identities")),
        sa.UniqueConstraint("issuer", "subject", name="uq_user_identities_issuer_subject"),
        sa.UniqueConstraint("user_id", "issuer", name="uq_user_identities_user_issuer"),
    )


def downgrade() -> None:
    op.drop_table("user_identities")
