"""Unit of work: one transaction, with the repositories that share it.

Whoever opens the unit of work (a request, a job, a CLI command) owns the transaction and commits it;
services only flush.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from docent.db.engine import writing
from docent.db.repositories.api_keys import ApiKeyRepository
from docent.db.repositories.audit import AuditRepository
from docent.db.repositories.groups import GroupRepository
from docent.db.repositories.orgs import OrganizationRepository
from docent.db.repositories.tokens import TokenRepository
from docent.db.repositories.users import UserRepository


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.orgs = OrganizationRepository(session)
        self.users = UserRepository(session)
        self.groups = GroupRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.tokens = TokenRepository(session)
        self.audit = AuditRepository(session)

    def flush(self) -> None:
        self.session.flush()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


class Database:
    """The one handle on the SQL database that services and jobs are given."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(writing(engine), expire_on_commit=False)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[UnitOfWork]:
        """Open a transaction; it is rolled back unless the caller commits it."""
        session = (self._write_sessions if write else self._read_sessions)()
        try:
            yield UnitOfWork(session)
        finally:
            session.rollback()
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
