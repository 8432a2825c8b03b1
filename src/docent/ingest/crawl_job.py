"""The `crawl` job: one run of a source. It walks the site (`Crawler`) and hands each page to the document
service in a short transaction of its own, so no write lock is held while a site is slow.

A page is known by its canonical URL within its source (`source_pages`). Its content decides, as for every
document: a page whose bytes are those of its document's latest version is left as it is, a changed one
becomes a new version, a new one a new document. A page that answers 404 or 410 is soft-deleted, as folder
sync deletes a file that is gone; a page the run merely did not reach (a limit, a failure on the way) is
left as it is, since a crawl cut short must never read as a site emptied. A page whose content is already
a document its owner can read is not ingested twice (counted unchanged).

Run again after a crash, a run starts over; pages already stored come out unchanged.
"""

from __future__ import annotations

import io
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from docent.auth.audit import RequestContext
from docent.auth.policy import CredentialKind, Principal
from docent.db.source_tables import Source, SourceRun
from docent.db.tables import Job
from docent.db.uow import Database, UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.crawl_rules import CrawlScope
from docent.ingest.crawler import (
    Crawler,
    CrawlInterruptedError,
    CrawlLimits,
    Failed,
    Fetched,
    Outcome,
    Skipped,
    Stopped,
)
from docent.ingest.fetch import UrlFetcher
from docent.ingest.service import DocumentService, IncomingFile, UploadOptions, Visibility
from docent.ingest.sources import CRAWL_JOB, RunStatus
from docent.jobs.runner import ClaimedJob, JobOutcome, ProgressReporter
from docent.storage.blobs import BlobStore
from docent.types import Role

MAX_RUN_ERRORS = 50  # a run keeps the first errors; the counts keep the rest
_SAVE_EVERY = 10  # pages between writes of the run's counts
_CONTEXT = RequestContext(ip=None, request_id="source-crawl")
_GONE = frozenset({404, 410})


@dataclass(frozen=True)
class CrawlSettings:
    delay_seconds: float
    run_seconds: float
    max_bytes: int


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def fail(self, url: str | None, code: ErrorCode, message: str) -> None:
        self.add("failed")
        self.note(url, code, message)

    def note(self, url: str | None, code: ErrorCode, message: str) -> None:
        if len(self.errors) < MAX_RUN_ERRORS:
            self.errors.append({"url": url, "code": code.value, "message": message[:500]})

    @property
    def visited(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class _Plan:
    """What a run needs of its source, read once (ids and values, never live ORM objects)."""

    source_id: uuid.UUID
    principal: Principal
    scope: CrawlScope
    limits: CrawlLimits
    options: UploadOptions


class _SourceGoneError(Exception):
    """The source was deleted while it ran."""


class CrawlHandler:
    kind = CRAWL_JOB
    batch_size = 1

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        documents: DocumentService,
        fetcher: UrlFetcher,
        settings: CrawlSettings,
    ) -> None:
        self._database = database
        self._blobs = blobs
        self._documents = documents
        self._fetcher = fetcher
        self._settings = settings
        self._stop = threading.Event()

    def process(self, jobs: list[ClaimedJob], progress: ProgressReporter) -> dict[uuid.UUID, JobOutcome]:
        return {job.id: self._crawl(job.id, progress) for job in jobs}

    def on_failed(self, uow: UnitOfWork, job: Job, error: str, code: ErrorCode | None) -> None:
        run = uow.sources.run_for_job(job.id)
        if run is not None:
            run.status, run.error, run.finished_at = RunStatus.FAILED, error[:2000], datetime.now(UTC)

    def on_retry(self, uow: UnitOfWork, job: Job, error: str) -> None:
        run = uow.sources.run_for_job(job.id)
        if run is not None:
            run.status, run.error = RunStatus.QUEUED, error[:2000]

    def interrupt(self) -> None:
        self._stop.set()

    def _crawl(self, job_id: uuid.UUID, progress: ProgressReporter) -> JobOutcome:
        plan = self._begin(job_id)
        if isinstance(plan, JobOutcome):
            return plan
        tally = _Tally()
        crawler = Crawler(self._fetcher, plan.scope, plan.limits, self._stop)
        try:
            for outcome in crawler.walk():
                self._apply(plan, outcome, tally)
                progress(job_id, min(tally.visited, plan.limits.max_pages), plan.limits.max_pages)
                if tally.visited % _SAVE_EVERY == 0:
                    self._save(job_id, tally, None)
        except CrawlInterruptedError:
            return JobOutcome.retry("the worker stopped during the crawl")
        except _SourceGoneError:
            return JobOutcome.completed()
        fetched = tally.counts.get("fetched", 0)
        if fetched == 0:
            reason = tally.errors[0]["message"] if tally.errors else "robots.txt allows no page of the site"
            message = f"no page could be read: {reason}"
            self._save(job_id, tally, RunStatus.FAILED, message)
            return JobOutcome.failed(message, ErrorCode.FETCH_FAILED)
        self._save(job_id, tally, RunStatus.COMPLETED)
        return JobOutcome.completed()

    def _begin(self, job_id: uuid.UUID) -> _Plan | JobOutcome:
        """Mark the run running with its counts at zero, and read what it needs; an outcome if it cannot."""
        with self._database.unit_of_work() as uow:
            run = uow.sources.run_for_job(job_id)
            source = uow.sources.get(run.source_id) if run is not None else None
            if run is None or source is None:
                return JobOutcome.completed()  # the source was deleted before its run began
            owner = uow.users.get(source.created_by) if source.created_by else None
            if owner is None or not owner.is_active:
                return JobOutcome.failed("the source's creator is no longer an active user")
            _reset(run)
            uow.commit()
            # The run acts as its creator, as the command line does: its page count is bounded by the source,
            # so the per-user cap on queued uploads (a guard against request floods) is not applied to it.
            credential = CredentialKind.COMMAND_LINE
            principal = Principal(owner.id, owner.org_id, owner.email, Role(owner.role), credential)
            return _plan(source, run, principal, self._settings)

    def _apply(self, plan: _Plan, outcome: Outcome, tally: _Tally) -> None:
        if isinstance(outcome, Skipped):
            tally.add("skipped")
        elif isinstance(outcome, Stopped):
            tally.note(None, outcome.code, outcome.reason)
        elif isinstance(outcome, Failed):
            self._failed(plan, outcome, tally)
        else:
            self._store(plan, outcome, tally)

    def _store(self, plan: _Plan, page: Fetched, tally: _Tally) -> None:
        """One page into its document, in a transaction of its own; a page that cannot be taken (empty, of
        no text) is counted failed and the others go on."""
        resource = page.resource
        staged = self._blobs.stage(io.BytesIO(resource.data), self._settings.max_bytes)
        incoming = IncomingFile(resource.filename, resource.content_type.value, staged)
        try:
            with self._database.unit_of_work() as uow:
                if uow.sources.get(plan.source_id) is None:
                    raise _SourceGoneError
                result = self._ingest(uow, plan, page.url, incoming)
                uow.commit()
        except DocentError as error:
            self._blobs.discard(staged)
            tally.fail(page.url, error.code, error.message)
            return
        except BaseException:
            self._blobs.discard(staged)
            raise
        tally.add("fetched")
        tally.add(result)

    def _ingest(self, uow: UnitOfWork, plan: _Plan, url: str, incoming: IncomingFile) -> str:
        known = uow.sources.page_at(plan.source_id, url)
        document = uow.documents.get(known.document_id) if known is not None else None
        if document is not None:
            accepted = self._documents.new_version(
                uow, plan.principal, document.id, incoming, _CONTEXT, batch_id=plan.options.batch_id
            )
            return "unchanged" if accepted.duplicate else "changed"
        accepted = self._documents.accept_fetched(uow, plan.principal, incoming, url, plan.options, _CONTEXT)
        if accepted.duplicate:
            return "unchanged"
        uow.sources.set_page(plan.source_id, url, accepted.document.id)
        return "new"

    def _failed(self, plan: _Plan, page: Failed, tally: _Tally) -> None:
        if page.error.status in _GONE and self._remove(plan, page.url):
            tally.add("removed")
            return
        tally.fail(page.url, page.error.code, page.error.message)

    def _remove(self, plan: _Plan, url: str) -> bool:
        """Soft-delete the document of a page that is gone; False if the source has none for it."""
        with self._database.unit_of_work() as uow:
            known = uow.sources.page_at(plan.source_id, url)
            if known is None or uow.documents.get(known.document_id) is None:
                return False
            self._documents.delete(uow, plan.principal, known.document_id, _CONTEXT)
            uow.commit()
        return True

    def _save(
        self, job_id: uuid.UUID, tally: _Tally, status: RunStatus | None, error: str | None = None
    ) -> None:
        with self._database.unit_of_work() as uow:
            run = uow.sources.run_for_job(job_id)
            if run is None:
                return
            for what in ("fetched", "new", "changed", "unchanged", "failed", "skipped", "removed"):
                setattr(run, f"pages_{what}", tally.counts.get(what, 0))
            run.errors = list(tally.errors)
            if status is not None:
                run.status, run.error, run.finished_at = status, error, datetime.now(UTC)
            uow.commit()


def _reset(run: SourceRun) -> None:
    run.status, run.error, run.errors = RunStatus.RUNNING, None, []
    run.started_at, run.finished_at = datetime.now(UTC), None
    for what in ("fetched", "new", "changed", "unchanged", "failed", "skipped", "removed"):
        setattr(run, f"pages_{what}", 0)


def _plan(source: Source, run: SourceRun, principal: Principal, settings: CrawlSettings) -> _Plan:
    limits = CrawlLimits(source.max_depth, source.max_pages, settings.delay_seconds, settings.run_seconds)
    scope = CrawlScope(source.start_url, source.same_host, tuple(source.include), tuple(source.exclude))
    options = UploadOptions(
        visibility=Visibility(source.visibility),
        tags=tuple(source.tags),
        group_ids=tuple(uuid.UUID(g) for g in source.group_ids),
        batch_id=run.batch_id,
    )
    return _Plan(source.id, principal, scope, limits, options)
