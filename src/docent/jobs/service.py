"""What callers may see of background jobs: members their own, admins their organisation's."""

from __future__ import annotations

import uuid

from docent.auth.policy import Principal
from docent.db.tables import Job
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.types import JobStatus, Page, PageRequest


class JobService:
    def list(
        self,
        uow: UnitOfWork,
        principal: Principal,
        page: PageRequest,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
    ) -> Page[Job]:
        created_by = None if principal.is_admin else principal.user_id
        return uow.jobs.page(principal.org_id, page, status=status, batch_id=batch_id, created_by=created_by)

    def get(self, uow: UnitOfWork, principal: Principal, job_id: uuid.UUID) -> Job:
        job = uow.jobs.get_in_org(principal.org_id, job_id)
        if job is None or not (principal.is_admin or job.created_by == principal.user_id):
            raise DocentError(ErrorCode.JOB_NOT_FOUND)
        return job
