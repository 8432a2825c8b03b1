from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from docent.api.deps import JobServiceDep, PrincipalDep, ReadOnlyDep
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.types import JobStatus, PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


class JobOut(OrmModel):
    """A background job: ingesting one document version (`ingest`), or one run of a source (`crawl`)."""

    id: uuid.UUID
    kind: str = Field(description="What the job does, e.g. `ingest`")
    status: str = Field(description="`queued`, `processing`, `completed` or `failed`")
    batch_id: str | None = Field(description="The batch named at upload")
    document_id: uuid.UUID | None = Field(description="The document it works on")
    attempts: int = Field(description="Runs so far; a failed run is retried with backoff")
    max_attempts: int = Field(description="Runs before it is given up as failed")
    error: str | None = Field(description="Why the last run failed, for people")
    error_code: str | None = Field(description="Why the last run failed, stable")
    progress_done: int = Field(description="Chunks embedded (a crawl: pages visited)")
    progress_total: int = Field(description="Chunks in all, 0 until parsed (a crawl: its page limit)")
    created_at: datetime
    started_at: datetime | None = Field(description="When the last run began")
    finished_at: datetime | None = Field(description="When it completed or failed for good")
    run_after: datetime | None = Field(description="Not run again before this (backoff after a failure)")


@router.get(
    "", response_model=PageOut[JobOut], summary="Background jobs (members see their own), newest first"
)
def list_jobs(
    principal: PrincipalDep,
    jobs: JobServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    status: JobStatus | None = None,
    batch: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """Ingestion jobs, newest first: a member sees their own, an admin the organisation's. Filter by `status`
    or by the `batch` an upload named."""
    found = jobs.list(uow, principal, PageRequest(page, page_size), status=status, batch_id=batch)
    return page_out(found, JobOut)


@router.get("/{job_id}", response_model=JobOut, summary="One job")
def get_job(job_id: uuid.UUID, principal: PrincipalDep, jobs: JobServiceDep, uow: ReadOnlyDep) -> Any:
    """One job: status, attempts, progress (chunks embedded of total) and error."""
    return JobOut.model_validate(jobs.get(uow, principal, job_id))
