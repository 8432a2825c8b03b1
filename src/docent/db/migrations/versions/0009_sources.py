"""sources: site crawls, their runs, and the pages each has ingested

Revision ID: 0009_sources
Revises: 0008_limits
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_sources"
down_revision = "0008_limits"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target}")
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name, ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("start_url", sa.String(length=2000), nullable=False),
        sa.Column("same_host", sa.Boolean(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("include", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("group_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("sources", "org_id", "organizations", "CASCADE"),
        _fk("sources", "created_by", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
    )
    op.create_index("ix_sources_org_created", "sources", ["org_id", "created_at"])
    op.create_table(
        "source_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        *(
            sa.Column(f"pages_{count}", sa.Integer(), nullable=False)
            for count in ("fetched", "new", "changed", "unchanged", "failed", "skipped", "removed")
        ),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _fk("source_runs", "source_id", "sources", "CASCADE"),
        _fk("source_runs", "job_id", "jobs", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_runs")),
    )
    op.create_index("ix_source_runs_source_created", "source_runs", ["source_id", "created_at"])
    op.create_index(op.f("ix_source_runs_job_id"), "source_runs", ["job_id"])
    op.create_table(
        "source_pages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        _fk("source_pages", "source_id", "sources", "CASCADE"),
        _fk("source_pages", "document_id", "documents", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_pages")),
        sa.UniqueConstraint("source_id", "url", name="uq_source_pages_source_url"),
    )
    op.create_index(op.f("ix_source_pages_document_id"), "source_pages", ["document_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_source_pages_document_id"), table_name="source_pages")
    op.drop_table("source_pages")
    op.drop_index(op.f("ix_source_runs_job_id"), table_name="source_runs")
    op.drop_index("ix_source_runs_source_created", table_name="source_runs")
    op.drop_table("source_runs")
    op.drop_index("ix_sources_org_created", table_name="sources")
    op.drop_table("sources")
