"""A read-only unit of work reads one snapshot of the database, on both profiles: a commit that lands
between two of its statements shows in neither. (PostgreSQL's default, read committed, showed it in the
second: a document's versions read after its row could be a newer state than the row.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, func, insert, select

from docent.db.engine import build_engine
from docent.db.tables import Organization
from docent.db.uow import Database


def test_a_read_only_unit_of_work_does_not_see_a_commit_made_during_it(database_url: str) -> None:
    database = Database(build_engine(database_url))
    other = create_engine(database_url)
    count = select(func.count()).select_from(Organization)
    try:
        with database.unit_of_work(write=False) as uow:
            before = uow.session.scalar(count)
            with other.begin() as connection:
                connection.execute(
                    insert(Organization),
                    [{"id": uuid.uuid4(), "name": "Late", "slug": "late", "created_at": datetime.now(UTC)}],
                )
            assert uow.session.scalar(count) == before
        with database.unit_of_work(write=False) as uow:
            assert uow.session.scalar(count) == before + 1
        with database.unit_of_work() as uow:  # writers still see every commit before their own
            assert uow.session.scalar(count) == before + 1
    finally:
        other.dispose()
        database.dispose()
