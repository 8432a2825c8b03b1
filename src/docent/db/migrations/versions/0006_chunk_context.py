"""chunks carry a context (their document's title and section path) that is embedded and keyword-indexed

Revision ID: 0006_chunk_context
Revises: 0005_error_codes
Create Date: 2026-12-02 13:00:00

What a chunk's vector and keyword row are made from is `context`, a line break, then `text`; `text` stays
what is shown. Existing chunks get an empty context (their rows stay as they are) until their document is
processed again. On PostgreSQL the generated tsvector is made again from both columns; on SQLite the
chunk repository writes the FTS5 rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_chunk_context"
down_revision = "0005_error_codes"
branch_labels = None
depends_on = None


def _text_search(source: str) -> None:
    op.execute("DROP INDEX IF EXISTS ix_chunks_text_search")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS text_search")
    op.execute(
        "ALTER TABLE chunks ADD COLUMN text_search tsvector "
        f"GENERATED ALWAYS AS (to_tsvector('english', {source})) STORED"
    )
    op.execute("CREATE INDEX ix_chunks_text_search ON chunks USING gin (text_search)")


def upgrade() -> None:
    # Not in batch mode: SQLite would copy the table and lose the generation triggers on it.
    op.add_column("chunks", sa.Column("context", sa.Text(), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "postgresql":
        _text_search("context || ' ' || text")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _text_search("text")
    op.drop_column("chunks", "context")
