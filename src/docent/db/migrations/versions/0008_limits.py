"""budgets: an admin's monthly cap on model tokens or cost, per organisation and per user

Revision ID: 0008_limits
Revises: 0005_error_codes
Create Date: 2026-12-02 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_limits"
down_revision = "0007_sharing_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("max_cost_usd", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_budgets_org_id_organizations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_budgets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("org_id", "user_id", name="uq_budgets_org_user"),
    )
    op.create_index(op.f("ix_budgets_org_id"), "budgets", ["org_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_budgets_org_id"), table_name="budgets")
    op.drop_table("budgets")
