"""Background jobs: the durable record that queue messages only point to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, ColumnExpressionArgument, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from docent.db.repositories._paging import paginate
from docent.db.tables import Job
from docent.types import JobStatus, Page, PageRequest


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands. Chunks are known once a document is parsed; a failed one's are left out."""

    documents: int
    completed: int
    failed: int
    unsized: int  # not finished, and not yet parsed (its chunk count is unknown)
    sized: int  # documents whose chunk count is known, failed ones aside
    chunks_done: int
    chunks_total: int

    @property
    def finished(self) -> int:
        return self.completed + self.failed


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: Job) -> Job:
        self.session.add(job)
        return job

    def get(self, job_id: uuid.UUID) -> Job | None:
        return self.session.get(Job, job_id)

    def unfinished_for_user(self, user_id: uuid.UUID, kind: str) -> int:
        """How many of `user_id`'s jobs of `kind` are queued or running."""
        unfinished = (JobStatus.QUEUED, JobStatus.PROCESSING)
        query = select(func.count()).where(
            Job.created_by == user_id, Job.kind == kind, Job.status.in_(unfinished)
        )
        return int(self.session.scalar(query) or 0)

    def get_in_org(self, org_id: uuid.UUID, job_id: uuid.UUID) -> Job | None:
        return self.session.scalar(select(Job).where(Job.id == job_id, Job.org_id == org_id))

    def page(
        self,
        org_id: uuid.UUID,
        request: PageRequest,
        *,
        status: JobStatus | None,
        batch_id: str | None,
        created_by: uuid.UUID | None,
    ) -> Page[Job]:
        query = select(Job).where(Job.org_id == org_id).order_by(Job.created_at.desc(), Job.id)
        if status:
            query = query.where(Job.status == status)
        if batch_id:
            query = query.where(Job.batch_id == batch_id)
        if created_by:
            query = query.where(Job.created_by == created_by)
        return paginate(self.session, query, request)

    def claim(self, job_id: uuid.UUID, now: datetime, stale_before: datetime) -> bool:
        """Take a job that is ready, or whose worker stopped heartbeating; atomic, so one worker wins."""
        result = self.session.execute(
            update(Job)
            .where(Job.id == job_id, _claimable(now, stale_before))
            .values(
                status=JobStatus.PROCESSING,
                attempts=Job.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                run_after=None,
            )
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def is_claimable(self, job_id: uuid.UUID, now: datetime, stale_before: datetime) -> bool:
        query = select(Job.id).where(Job.id == job_id, _claimable(now, stale_before))
        return self.session.scalar(query) is not None

    def claimable_ids(self, now: datetime, stale_before: datetime, kind: str, limit: int) -> list[uuid.UUID]:
        """Up to `limit` jobs to run next, in turns across the users who queued them: every user's oldest
        job, then every user's second oldest, and so on. Within a turn, users with fewer jobs waiting come
        first, so that a user with one waiting job is served at the next claim even when claims take one
        job at a time (oldest first would always pick the user with a thousand older ones)."""
        user = (Job.created_by,)
        turn = func.row_number().over(partition_by=user, order_by=(Job.created_at, Job.id))
        waiting = func.count().over(partition_by=user)
        ready = (
            select(Job.id, Job.created_at, turn.label("turn"), waiting.label("waiting"))
            .where(Job.kind == kind, _claimable(now, stale_before))
            .subquery()
        )
        order = (ready.c.turn, ready.c.waiting, ready.c.created_at, ready.c.id)
        return list(self.session.scalars(select(ready.c.id).order_by(*order).limit(limit)))

    def due_for_resend(
        self, now: datetime, resend_before: datetime, stale_before: datetime
    ) -> list[uuid.UUID]:
        """Jobs whose message may be lost (ready but waiting too long) or whose worker stopped heartbeating.
        The waiting ones are stamped, so they are not re-sent again before `resend_before` comes round."""
        waiting = and_(
            Job.status == JobStatus.QUEUED,
            or_(Job.run_after.is_(None), Job.run_after <= now),
            func.coalesce(Job.heartbeat_at, Job.created_at) < resend_before,
        )
        abandoned = and_(Job.status == JobStatus.PROCESSING, Job.heartbeat_at < stale_before)
        ids = list(self.session.scalars(select(Job.id).where(or_(waiting, abandoned)).limit(1000)))
        if ids:
            self.session.execute(
                update(Job).where(Job.id.in_(ids), Job.status == JobStatus.QUEUED).values(heartbeat_at=now)
            )
        return ids

    def heartbeat(self, job_ids: list[uuid.UUID], now: datetime) -> None:
        beating = and_(Job.id.in_(job_ids), Job.status == JobStatus.PROCESSING)
        self.session.execute(update(Job).where(beating).values(heartbeat_at=now))

    def batch_counts(self, batch_id: str) -> dict[str, int]:
        """How many of the batch's jobs are in each status."""
        query = select(Job.status, func.count()).where(Job.batch_id == batch_id).group_by(Job.status)
        return {str(row[0]): int(row[1]) for row in self.session.execute(query)}

    def batch_progress(self, batch_id: str) -> BatchProgress:
        """One query: the batch's documents by state, and its chunks embedded of those known."""
        finished = Job.status.in_((JobStatus.COMPLETED, JobStatus.FAILED))
        counted = Job.status != JobStatus.FAILED

        def total(
            condition: ColumnElement[bool], value: ColumnExpressionArgument[int] | int = 1
        ) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, value), else_=0)), 0)

        row = self.session.execute(
            select(
                func.count(),
                total(Job.status == JobStatus.COMPLETED),
                total(Job.status == JobStatus.FAILED),
                total(and_(~finished, Job.progress_total == 0)),
                total(and_(counted, Job.progress_total > 0)),
                total(counted, Job.progress_done),
                total(counted, Job.progress_total),
            ).where(Job.batch_id == batch_id)
        ).one()
        return BatchProgress(*(int(value) for value in row))

    def batch_failures(self, batch_id: str) -> list[tuple[uuid.UUID, str]]:
        """The batch's failed jobs and why, oldest first."""
        query = (
            select(Job.id, Job.error)
            .where(Job.batch_id == batch_id, Job.status == JobStatus.FAILED)
            .order_by(Job.created_at, Job.id)
        )
        return [(job_id, error or "failed") for job_id, error in self.session.execute(query)]

    def latest_for_versions(self, version_ids: list[uuid.UUID]) -> dict[uuid.UUID, Job]:
        """The newest job of each version (its progress is the version's progress)."""
        if not version_ids:
            return {}
        query = select(Job).where(Job.version_id.in_(version_ids)).order_by(Job.created_at, Job.id)
        return {job.version_id: job for job in self.session.scalars(query) if job.version_id}


def _claimable(now: datetime, stale_before: datetime) -> ColumnElement[bool]:
    ready = and_(Job.status == JobStatus.QUEUED, or_(Job.run_after.is_(None), Job.run_after <= now))
    abandoned = and_(Job.status == JobStatus.PROCESSING, Job.heartbeat_at < stale_before)
    return or_(ready, abandoned)
