"""narrow chunk rows (PostgreSQL): a chunk's text, vector and tsvector live in its TOAST table

Keyword search on PostgreSQL first reads which chunks hold each query term (the GIN index, then the heap
row for its organisation and length); only a few hundred chunks are then scored from their tsvectors. With
the wide values inline, a chunk's heap row was about 1.4 kB and those first reads touched most of the
table; with them moved out it is about 180 bytes (at 100,000 SciFact chunks the heap fell from 138 MB to
18 MB). Rows written before this migration keep their layout until they are written again (re-ingestion,
or `VACUUM FULL chunks`, which locks the table while it runs).

Revision ID: 0013_narrow_chunk_rows
Revises: 0012_budget_reservations
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0013_narrow_chunk_rows"
down_revision = "0012_budget_reservations"
branch_labels = None
depends_on = None

SMALLEST_TOAST_TARGET = 128  # bytes: PostgreSQL's lower limit; any wider value is moved out of the row


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE chunks SET (toast_tuple_target = {SMALLEST_TOAST_TARGET})")
    # A tsvector barely compresses (it is mostly positions): store it out of line without trying.
    op.execute("ALTER TABLE chunks ALTER COLUMN text_search SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE chunks ALTER COLUMN text_search SET STORAGE EXTENDED")
    op.execute("ALTER TABLE chunks RESET (toast_tuple_target)")
