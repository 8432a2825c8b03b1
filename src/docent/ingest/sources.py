"""Site crawls as a resource: a source is created, run again, listed with its last run, and deleted by its
creator or an admin of its organisation (for anyone else it does not exist: 404). Everything a request asks
for is checked before anything is stored: the start URL against the SSRF guard, the limits against the
server's maximums, the patterns' count and length, the groups.

A run is a job of kind `crawl` (`docent.ingest.crawl_job`); it and the ingests of the pages it finds share
one batch, `source-<run id>`, which `GET /jobs?batch=` shows with its progress.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from docent.auth.audit import RequestContext, record
from docent.auth.policy import Principal
from docent.config import Settings
from docent.db.source_tables import Source, SourceRun
from docent.db.tables import Job
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.crawl_rules import canonical_url
from docent.ingest.fetch import FetchError, UrlFetcher
from docent.ingest.service import Visibility, check_groups
from docent.jobs.queue import JobQueue
from docent.types import JobStatus, Page, PageRequest

CRAWL_JOB = "crawl"
MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 200


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class SourceLimits:
    """The server's maximums (DOCENT_SOURCE_MAX_PAGES, DOCENT_SOURCE_MAX_DEPTH)."""

    max_pages: int
    max_depth: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceLimits:
        return cls(settings.source_max_pages, settings.source_max_depth)


@dataclass(frozen=True)
class SourceSpec:
    start_url: str
    same_host: bool = True
    max_depth: int = 2
    max_pages: int = 100
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    visibility: Visibility = Visibility.PRIVATE
    tags: tuple[str, ...] = ()
    group_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class SourceView:
    source: Source
    last_run: SourceRun | None


class SourceService:
    def __init__(self, fetcher: UrlFetcher, queue: JobQueue, limits: SourceLimits, max_attempts: int) -> None:
        self._fetcher = fetcher
        self._queue = queue
        self._limits = limits
        self._max_attempts = max_attempts

    def create(
        self, uow: UnitOfWork, principal: Principal, spec: SourceSpec, context: RequestContext
    ) -> SourceView:
        start_url = self._check(uow, principal, spec)
        source = Source(
            id=uuid.uuid4(),
            org_id=principal.org_id,
            created_by=principal.user_id,
            start_url=start_url,
            same_host=spec.same_host,
            max_depth=spec.max_depth,
            max_pages=spec.max_pages,
            include=list(spec.include),
            exclude=list(spec.exclude),
            visibility=spec.visibility.value,
            tags=list(spec.tags),
            group_ids=[str(g) for g in spec.group_ids],
        )
        uow.sources.add(source)
        uow.flush()
        run = self._start_run(uow, source)
        _audit(uow, context, principal, "source.create", source, {"start_url": start_url})
        return SourceView(source, run)

    def run(
        self, uow: UnitOfWork, principal: Principal, source_id: uuid.UUID, context: RequestContext
    ) -> SourceView:
        source = self._get(uow, principal, source_id)
        last = uow.sources.last_runs([source.id]).get(source.id)
        if last is not None and last.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            raise DocentError(ErrorCode.SOURCE_RUN_ACTIVE)
        run = self._start_run(uow, source)
        _audit(uow, context, principal, "source.run", source, {"run_id": str(run.id)})
        return SourceView(source, run)

    def get(self, uow: UnitOfWork, principal: Principal, source_id: uuid.UUID) -> SourceView:
        source = self._get(uow, principal, source_id)
        return SourceView(source, uow.sources.last_runs([source.id]).get(source.id))

    def page(self, uow: UnitOfWork, principal: Principal, request: PageRequest) -> Page[SourceView]:
        """Members see the sources they created; admins their organisation's."""
        found = uow.sources.page(principal.org_id, request, None if principal.is_admin else principal.user_id)
        runs = uow.sources.last_runs([s.id for s in found.items])
        views = [SourceView(s, runs.get(s.id)) for s in found.items]
        return Page(items=views, total=found.total, page=found.page, page_size=found.page_size)

    def delete(
        self, uow: UnitOfWork, principal: Principal, source_id: uuid.UUID, context: RequestContext
    ) -> None:
        """The source and its runs go; the documents it created stay, as their owner's documents (delete
        them like any other). A run in progress stops at its next page."""
        source = self._get(uow, principal, source_id)
        _audit(uow, context, principal, "source.delete", source, {"start_url": source.start_url})
        uow.sources.delete(source)

    def _get(self, uow: UnitOfWork, principal: Principal, source_id: uuid.UUID) -> Source:
        source = uow.sources.get_in_org(principal.org_id, source_id)
        if source is None or not (principal.is_admin or source.created_by == principal.user_id):
            raise DocentError(ErrorCode.SOURCE_NOT_FOUND)
        return source

    def _check(self, uow: UnitOfWork, principal: Principal, spec: SourceSpec) -> str:
        """The canonical start URL, once every part of the request is known to be doable (400 otherwise)."""
        for name, asked, limit in (
            ("max_pages", spec.max_pages, self._limits.max_pages),
            ("max_depth", spec.max_depth, self._limits.max_depth),
        ):
            if asked > limit:
                raise DocentError(
                    ErrorCode.BAD_REQUEST,
                    f"{name} is at most {limit} on this server.",
                    details={"field": name, "limit": limit},
                )
        patterns = (*spec.include, *spec.exclude)
        if len(patterns) > MAX_PATTERNS or any(not p or len(p) > MAX_PATTERN_LENGTH for p in patterns):
            raise DocentError(
                ErrorCode.BAD_REQUEST,
                f"At most {MAX_PATTERNS} include and exclude patterns in all, each of 1 to "
                f"{MAX_PATTERN_LENGTH} characters.",
            )
        start_url = canonical_url(spec.start_url)
        if start_url is None:
            raise DocentError(ErrorCode.INVALID_URL)
        try:  # before the database is touched: no write lock is held while the name resolves
            self._fetcher.check(start_url)
        except FetchError as error:
            raise DocentError(error.code, error.message) from None
        check_groups(uow, principal, spec.visibility, spec.group_ids)
        return start_url

    def _start_run(self, uow: UnitOfWork, source: Source) -> SourceRun:
        """A queued run and its job. The job is its creator's, like the page ingests it will add, so that
        the whole batch shows in their `/jobs`."""
        run_id = uuid.uuid4()
        job = Job(
            id=uuid.uuid4(),
            org_id=source.org_id,
            created_by=source.created_by,
            kind=CRAWL_JOB,
            status=JobStatus.QUEUED,
            batch_id=f"source-{run_id.hex}",
            attempts=0,
            max_attempts=self._max_attempts,
            progress_done=0,
            progress_total=source.max_pages,
        )
        uow.jobs.add(job)
        uow.flush()
        run = SourceRun(
            id=run_id, source_id=source.id, job_id=job.id, batch_id=job.batch_id, status=RunStatus.QUEUED,
            pages_fetched=0, pages_new=0, pages_changed=0, pages_unchanged=0, pages_failed=0,
            pages_skipped=0, pages_removed=0, errors=[],
        )  # fmt: skip
        uow.sources.add_run(run)
        uow.flush()
        job_id = job.id
        uow.after_commit(lambda: self._queue.enqueue(job_id))
        return run


def _audit(
    uow: UnitOfWork,
    context: RequestContext,
    principal: Principal,
    action: str,
    source: Source,
    details: dict[str, str],
) -> None:
    record(
        uow, context, action, org_id=principal.org_id, actor_id=principal.user_id,
        target_type="source", target_id=source.id, details=details,
    )  # fmt: skip
