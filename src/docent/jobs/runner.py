"""Runs jobs: claim atomically, heartbeat while working, record the outcome, retry with backoff.

A worker killed mid-job stops heartbeating; after `lease_seconds` the job is claimable again and the
sweeper re-sends it, so it completes elsewhere. Handlers must therefore be idempotent.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from docent.config import Settings
from docent.db.tables import Job
from docent.db.uow import Database, UnitOfWork
from docent.errors import ErrorCode
from docent.jobs.queue import JobQueue
from docent.observability.logs import get_logger
from docent.types import JobStatus

_log = get_logger(__name__)


DEFER_SECONDS = 15.0  # how soon a deferred job is offered again (to whichever worker takes it)


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"  # for good: retrying would fail the same way
    RETRY = "retry"  # again later, with backoff, while attempts remain
    DEFER = "defer"  # again later, without spending an attempt: it waits for a worker that can run it


@dataclass(frozen=True)
class JobOutcome:
    """How a job's run ended. `error` is for people; `code`, when the failure has a stable one (a parser's,
    say), is kept beside it, never written into it."""

    status: OutcomeStatus
    error: str | None = None
    code: ErrorCode | None = None

    @classmethod
    def completed(cls) -> JobOutcome:
        return cls(OutcomeStatus.COMPLETED)

    @classmethod
    def failed(cls, error: str, code: ErrorCode | None = None) -> JobOutcome:
        return cls(OutcomeStatus.FAILED, error, code)

    @classmethod
    def retry(cls, error: str) -> JobOutcome:
        return cls(OutcomeStatus.RETRY, error)

    @classmethod
    def defer(cls, error: str) -> JobOutcome:
        return cls(OutcomeStatus.DEFER, error)


@dataclass(frozen=True)
class ClaimedJob:
    """What a handler needs of a job it holds the lease on (ids only, never a live ORM object)."""

    id: uuid.UUID
    kind: str
    attempts: int
    document_id: uuid.UUID | None
    version_id: uuid.UUID | None

    @classmethod
    def of(cls, job: Job) -> ClaimedJob:
        return cls(job.id, job.kind, job.attempts, job.document_id, job.version_id)


class ProgressReporter(Protocol):
    def __call__(self, job_id: uuid.UUID, done: int, total: int) -> None: ...


class JobHandler(Protocol):
    """The body of one kind of job. `process` must be idempotent: it may run again after a crash."""

    kind: str
    batch_size: int

    def process(self, jobs: list[ClaimedJob], progress: ProgressReporter) -> dict[uuid.UUID, JobOutcome]: ...

    def on_failed(self, uow: UnitOfWork, job: Job, error: str, code: ErrorCode | None) -> None: ...

    def on_retry(self, uow: UnitOfWork, job: Job, error: str) -> None: ...

    def interrupt(self) -> None:
        """Stop the work in flight at once and take no more (the worker is stopping); `process` then
        returns soon, with retries for what it did not finish."""
        ...


@dataclass(frozen=True)
class RunnerPolicy:
    lease_seconds: float = 60.0
    backoff_base_seconds: float = 2.0
    backoff_max_seconds: float = 300.0
    resend_after_seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerPolicy:
        # A job is re-sent only after its lease could have lapsed and the sweeper has looked twice.
        return cls(
            lease_seconds=settings.job_lease_seconds,
            backoff_base_seconds=settings.job_backoff_base_seconds,
            resend_after_seconds=max(settings.job_lease_seconds, 2 * settings.job_sweep_seconds),
        )


def _now() -> datetime:
    return datetime.now(UTC)


class JobRunner:
    def __init__(
        self, database: Database, queue: JobQueue, handlers: list[JobHandler], policy: RunnerPolicy
    ) -> None:
        self._database = database
        self._queue = queue
        self._handlers = {h.kind: h for h in handlers}
        self._policy = policy

    def run(self, job_id: uuid.UUID) -> None:
        """Entry point for a queue message: claim this job (and ready siblings to batch), then run them."""
        claimed = self._claim(job_id)
        if not claimed:
            return
        handler = self._handlers[claimed[0].kind]
        with self._heartbeating([job.id for job in claimed]):
            try:
                outcomes = handler.process(claimed, self._report_progress)
            except Exception as exc:  # an unexpected failure is retried; the job's record keeps why
                _log.exception("job_failed_unexpectedly", kind=handler.kind)
                outcomes = {job.id: JobOutcome.retry(f"{type(exc).__name__}: {exc}"[:500]) for job in claimed}
        for job in claimed:
            outcomes.setdefault(job.id, JobOutcome.retry("the handler gave no outcome"))
        self._record(handler, outcomes)

    def interrupt(self) -> None:
        """Shutdown: every handler drops what it is doing, so stopping waits for no document."""
        for handler in self._handlers.values():
            handler.interrupt()

    def sweep(self) -> int:
        """Re-send jobs that wait too long (their message may be lost) or whose worker died."""
        now = _now()
        stale = now - timedelta(seconds=self._policy.lease_seconds)
        resend_before = now - timedelta(seconds=self._policy.resend_after_seconds)
        with self._database.unit_of_work() as uow:
            ids = uow.jobs.due_for_resend(now, resend_before, stale)
            uow.commit()
        for job_id in ids:
            self._queue.enqueue(job_id)
        if ids:
            _log.info("jobs_resent", count=len(ids))
        return len(ids)

    def _claim(self, job_id: uuid.UUID) -> list[ClaimedJob]:
        """A batch of the message's kind, taken in turns across the users who queued them (see
        `claimable_ids`), so that one user's thousand queued uploads hold another user's one back only
        until the next claim. The message is a doorbell: its own job runs when its turn comes, and until
        then it keeps a message of its own (sent again at the back of the queue), so no job is left
        without one. A message whose job another claim already took does nothing."""
        now = _now()
        stale = now - timedelta(seconds=self._policy.lease_seconds)
        with self._database.unit_of_work() as uow:
            job = uow.jobs.get(job_id)
            if job is None or job.kind not in self._handlers or not uow.jobs.is_claimable(job_id, now, stale):
                return []
            handler = self._handlers[job.kind]
            candidates = uow.jobs.claimable_ids(now, stale, job.kind, handler.batch_size)
            claimed_ids = [i for i in candidates if uow.jobs.claim(i, now, stale)]
            uow.commit()
        if job_id not in candidates:
            self._queue.enqueue(job_id)
        with self._database.unit_of_work(write=False) as uow:
            jobs = [uow.jobs.get(i) for i in claimed_ids]
            return [ClaimedJob.of(j) for j in jobs if j is not None]

    def _record(self, handler: JobHandler, outcomes: dict[uuid.UUID, JobOutcome]) -> None:
        retries: list[tuple[uuid.UUID, float]] = []
        with self._database.unit_of_work() as uow:
            for job_id, outcome in outcomes.items():
                job = uow.jobs.get(job_id)
                if job is None or job.status != JobStatus.PROCESSING:
                    continue
                delay = self._apply(uow, handler, job, outcome)
                if delay is not None:
                    retries.append((job_id, delay))
            uow.commit()
        for job_id, delay in retries:
            self._queue.enqueue(job_id, delay)

    def _apply(self, uow: UnitOfWork, handler: JobHandler, job: Job, outcome: JobOutcome) -> float | None:
        now = _now()
        job.heartbeat_at = now
        if outcome.status is OutcomeStatus.COMPLETED:
            job.status, job.error, job.error_code, job.finished_at = JobStatus.COMPLETED, None, None, now
            return None
        error = outcome.error or "failed"
        if outcome.status is OutcomeStatus.DEFER:
            job.attempts = max(0, job.attempts - 1)  # not the job's fault: this worker cannot run it now
        if outcome.status is OutcomeStatus.FAILED or job.attempts >= job.max_attempts:
            job.status, job.error, job.finished_at = JobStatus.FAILED, error, now
            job.error_code = outcome.code
            handler.on_failed(uow, job, error, outcome.code)
            _log.warning("job_failed", job_id=str(job.id), kind=job.kind, attempts=job.attempts)
            return None
        delay = self._backoff(job.attempts) if outcome.status is OutcomeStatus.RETRY else DEFER_SECONDS
        job.status, job.error, job.run_after = JobStatus.QUEUED, error, now + timedelta(seconds=delay)
        handler.on_retry(uow, job, error)
        _log.info(
            "job_retry_scheduled", job_id=str(job.id), attempts=job.attempts, delay_seconds=round(delay, 1)
        )
        return delay

    def _backoff(self, attempts: int) -> float:
        base = self._policy.backoff_base_seconds * 2 ** max(0, attempts - 1)
        jitter: float = random.uniform(0.8, 1.2)  # noqa: S311 (not for security)
        return float(min(self._policy.backoff_max_seconds, base)) * jitter

    def _report_progress(self, job_id: uuid.UUID, done: int, total: int) -> None:
        with self._database.unit_of_work() as uow:
            job = uow.jobs.get(job_id)
            if job is not None:
                job.progress_done, job.progress_total, job.heartbeat_at = done, total, _now()
                uow.commit()

    @contextmanager
    def _heartbeating(self, job_ids: list[uuid.UUID]) -> Iterator[None]:
        stop = threading.Event()
        interval = max(0.5, self._policy.lease_seconds / 4)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    with self._database.unit_of_work() as uow:
                        uow.jobs.heartbeat(job_ids, _now())
                        uow.commit()
                except Exception:  # a missed beat only risks a duplicate run, which handlers tolerate
                    _log.exception("job_heartbeat_failed")

        thread = threading.Thread(target=beat, name="docent-job-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
