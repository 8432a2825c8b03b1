"""a job keeps its failure's stable code beside its message

Revision ID: 0005_error_codes
Revises: 0004
Create Date: 2026-12-02 12:00:00

A job that failed for a reason with a stable code (a parser's `pdf_corrupt`, say) used to carry it at the
end of its message, `… [pdf_corrupt]`, where the version's `error_code` was parsed back from. The code now
has a column on the job too, and messages are for people only: existing ones lose the suffix, the code
stays in the columns.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_error_codes"
down_revision = "0004"
branch_labels = None
depends_on = None

# `error` ends with " [<code>]" (both databases have substr, length and ||).
_SUFFIXED = "substr(error, length(error) - length({code}) - 2) = ' [' || {code} || ']'"
_WITHOUT_SUFFIX = "substr(error, 1, length(error) - length({code}) - 3)"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=50), nullable=True))
    version_code = "(SELECT v.error_code FROM document_versions v WHERE v.id = jobs.version_id)"
    op.execute(
        f"UPDATE jobs SET error_code = {version_code} "
        f"WHERE status = 'failed' AND {version_code} IS NOT NULL AND {_SUFFIXED.format(code=version_code)}"
    )
    op.execute(
        f"UPDATE jobs SET error = {_WITHOUT_SUFFIX.format(code='error_code')} "
        f"WHERE error_code IS NOT NULL AND {_SUFFIXED.format(code='error_code')}"
    )
    op.execute(
        f"UPDATE document_versions SET error = {_WITHOUT_SUFFIX.format(code='error_code')} "
        f"WHERE error_code IS NOT NULL AND error IS NOT NULL AND {_SUFFIXED.format(code='error_code')}"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("error_code")
