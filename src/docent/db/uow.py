"""Unit of work: one transaction, with the repositories that share it.

Whoever opens the unit of work (a request, a job, a CLI command) owns the transaction and commits it;
services only flush.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from docent.db.engine import reading, writing
from docent.db.repositories.access import AccessRepository
from docent.db.repositories.api_keys import ApiKeyRepository
from docent.db.repositories.audit import AuditRepository
from docent.db.repositories.budgets import BudgetRepository
from docent.db.repositories.chat import ChatRepository
from docent.db.repositories.chunks import ChunkRepository
from docent.db.repositories.documents import DocumentRepository
from docent.db.repositories.groups import GroupRepository
from docent.db.repositories.identities import IdentityRepository
from docent.db.repositories.index_meta import IndexMetaRepository
from docent.db.repositories.jobs import JobRepository
from docent.db.repositories.orgs import OrganizationRepository
from docent.db.repositories.search import SearchRepository
from docent.db.repositories.sources import SourceRepository
from docent.db.repositories.tokens import TokenRepository
from docent.db.repositories.users import UserRepository


class WriteConflictError(Exception):
    """A write broke a constraint: typically another transaction wrote the same unique key first."""


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.orgs = OrganizationRepository(session)
        self.users = UserRepository(session)
        self.identities = IdentityRepository(session)
        self.groups = GroupRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.tokens = TokenRepository(session)
        self.audit = AuditRepository(session)
        self.documents = DocumentRepository(session)
        self.chunks = ChunkRepository(session)
        self.jobs = JobRepository(session)
        self.index_meta = IndexMetaRepository(session)
        self.search = SearchRepository(session)
        self.chat = ChatRepository(session)
        self.access = AccessRepository(session)
        self.budgets = BudgetRepository(session)
        self.sources = SourceRepository(session)
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this transaction has committed (e.g. enqueue a job that must see its rows)."""
        self._after_commit.append(callback)

    def after_rollback(self, callback: Callable[[], None]) -> None:
        """Run `callback` if this transaction ends without committing (e.g. remove a file stored for it)."""
        self._after_rollback.append(callback)

    def flush(self) -> None:
        self.session.flush()

    def release(self) -> None:
        """End a transaction that has written nothing yet, before a slow step such as a password hash (seconds
        under load): on SQLite a write transaction holds the database's one write lock from its first
        statement. Loaded objects stay usable; the next statement begins a new transaction."""
        session = self.session
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("release() with unwritten changes would commit them")
        session.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """If what the block writes breaks a constraint (flush inside it), only the block's writes are
        undone and `WriteConflictError` is raised; the transaction goes on, and sees what the other one
        committed (PostgreSQL's READ COMMITTED; SQLite serialises writers before they read)."""
        try:
            with self.session.begin_nested():
                yield
        except IntegrityError as error:
            raise WriteConflictError(type(error.orig).__name__) from None

    def commit(self) -> None:
        self.session.commit()
        callbacks, self._after_commit, self._after_rollback = self._after_commit, [], []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        self.session.rollback()
        callbacks, self._after_commit, self._after_rollback = self._after_rollback, [], []
        for callback in callbacks:
            callback()


class Database:
    """The one handle on the SQL database that services and jobs are given."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_sessions = sessionmaker(reading(engine), expire_on_commit=False)
        self._write_sessions = sessionmaker(writing(engine), expire_on_commit=False)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[UnitOfWork]:
        """Open a transaction; it is rolled back unless the caller commits it. With `write` False it reads
        one snapshot of the database throughout (`reading`)."""
        session = (self._write_sessions if write else self._read_sessions)()
        uow = UnitOfWork(session)
        try:
            yield uow
        finally:
            uow.rollback()  # a no-op after commit
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
