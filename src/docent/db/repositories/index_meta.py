from __future__ import annotations

from sqlalchemy import BigInteger, String, cast
from sqlalchemy.orm import Session

from docent.db.tables import IndexMeta, utcnow


class IndexMetaRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> str | None:
        row = self.session.get(IndexMeta, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.session.get(IndexMeta, key)
        if row is None:
            self.session.add(IndexMeta(key=key, value=value))
        else:
            row.value = value


CHUNKS_GENERATION_KEY = "chunks_generation"


def bump_chunks_generation(session: Session) -> None:
    """Count one more change to the chunks (rows or vectors), in the caller's transaction.

    Derived indexes (the in-memory vector matrix) compare this number with the one they were built at.
    An upsert, so concurrent first writers on PostgreSQL never collide on the missing row."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(IndexMeta)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(IndexMeta)  # type: ignore[assignment]
    now = utcnow()
    statement = statement.values(key=CHUNKS_GENERATION_KEY, value="1", updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[IndexMeta.key],
        set_={"value": cast(cast(IndexMeta.value, BigInteger) + 1, String), "updated_at": now},
    )
    session.execute(statement)
