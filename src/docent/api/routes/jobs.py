from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from docent.api.deps import JobServiceDep, PrincipalDep, ReadOnlyDep
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.types import JobStatus, PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/jobs", tags=["jobs"])


class JobOut(OrmModel):
    id: uuid.UUID
    kind: str
    status: str
    batch_id: str | None
    document_id: uuid.UUID | None
    attempts: int
    max_attempts: int
    error: str | None
    error_code: str | None
    progress_done: int
    progress_total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_after: datetime | None


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
