"""Who was shown what: every chunk a route shows a person or a client (search results, the passages given
to an answerer, citations, chunk listings, file downloads, `/v1` and MCP calls), recorded cheaply.

A request only appends its records to a buffer in memory (`AccessRecorder.record`, microseconds); a
thread of the recorder's own writes the buffer in batches, one multi-row INSERT per transaction, at most
`flush_seconds` after the response, and prunes records older than the retention once an hour. Reading the
records (`AccessService.page`) writes what this process still holds first, so an admin asking "who saw
this" sees every request this process answered. What a crash loses is at most the last `flush_seconds`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from docent.auth.policy import Principal, ensure_admin
from docent.config import Settings
from docent.db.repositories.access import AccessFilters, AccessRow
from docent.db.uow import Database, UnitOfWork
from docent.observability.logs import get_logger
from docent.types import Page, PageRequest

_log = get_logger(__name__)

FLUSH_SECONDS = 1.0
PRUNE_EVERY = timedelta(hours=1)
MAX_PENDING = 200_000  # records held when the database cannot be written; the oldest go first


@dataclass(frozen=True)
class Shown:
    """One thing shown: a chunk of a document version, or (chunk None) a document's file."""

    document_id: uuid.UUID
    version: int | None
    chunk_id: int | None


class AccessRecorder:
    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> AccessRecorder:
        retention = timedelta(days=settings.access_retention_days)
        return cls(database, enabled=settings.access_log_enabled, retention=retention)

    def __init__(
        self,
        database: Database,
        *,
        enabled: bool = True,
        retention: timedelta = timedelta(days=365),
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._database = database
        self.enabled = enabled
        self._retention = retention
        self._flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending and the thread's start
        self._writing = threading.Lock()  # one batch written at a time, in order
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._pruned_at: datetime | None = None

    def record(self, principal: Principal, route: str, shown: Iterable[Shown]) -> None:
        """Note that `principal` was shown `shown` through `route` (each chunk once per call)."""
        if not self.enabled:
            return
        now = datetime.now(UTC)
        base = {"org_id": principal.org_id, "user_id": principal.user_id, "api_key_id": principal.api_key_id}
        rows = [
            {
                **base,
                "route": route,
                "document_id": s.document_id,
                "version": s.version,
                "chunk_id": s.chunk_id,
                "shown_at": now,
            }
            for s in dict.fromkeys(shown)
        ]
        if not rows:
            return
        with self._lock:
            self._pending.extend(rows)
            if len(self._pending) > MAX_PENDING:
                del self._pending[: len(self._pending) - MAX_PENDING]
                _log.warning("access_records_dropped", reason="database not written")
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="docent-access-records", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Write every record held now; how many were written. A failed write keeps them for the next."""
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                with self._database.unit_of_work() as uow:
                    uow.access.add_many(batch)
                    uow.commit()
            except SQLAlchemyError as exc:
                _log.warning("access_records_not_written", count=len(batch), error=type(exc).__name__)
                with self._lock:
                    self._pending[:0] = batch
                return 0
            return len(batch)

    def prune(self, now: datetime | None = None) -> int:
        """Delete the records older than the retention; how many went."""
        now = now or datetime.now(UTC)
        with self._database.unit_of_work() as uow:
            removed = uow.access.prune(now - self._retention)
            uow.commit()
        self._pruned_at = now
        return removed

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
                if self._pruned_at is None or datetime.now(UTC) - self._pruned_at >= PRUNE_EVERY:
                    self.prune()
            except Exception:  # the recorder must outlive any failure; the next round tries again
                _log.warning("access_records_round_failed", exc_info=True)


class AccessService:
    """What admins ask of the records: who was shown a document, what a user saw, between two times."""

    def __init__(self, recorder: AccessRecorder) -> None:
        self._recorder = recorder

    def page(
        self, uow: UnitOfWork, actor: Principal, filters: AccessFilters, page: PageRequest
    ) -> Page[AccessRow]:
        ensure_admin(actor)
        self._recorder.flush()
        return uow.access.page(actor.org_id, filters, page)
