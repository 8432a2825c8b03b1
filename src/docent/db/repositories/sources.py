"""Site crawls: sources, their runs and the pages they have ingested."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.repositories._paging import paginate
from docent.db.source_tables import Source, SourcePage, SourceRun
from docent.types import Page, PageRequest


class SourceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, source: Source) -> None:
        self.session.add(source)

    def add_run(self, run: SourceRun) -> None:
        self.session.add(run)

    def get_in_org(self, org_id: uuid.UUID, source_id: uuid.UUID) -> Source | None:
        return self.session.scalar(select(Source).where(Source.id == source_id, Source.org_id == org_id))

    def get(self, source_id: uuid.UUID) -> Source | None:
        return self.session.get(Source, source_id)

    def page(self, org_id: uuid.UUID, request: PageRequest, created_by: uuid.UUID | None) -> Page[Source]:
        """The organisation's sources (only `created_by`'s, when given), newest first."""
        query = select(Source).where(Source.org_id == org_id).order_by(Source.created_at.desc(), Source.id)
        if created_by is not None:
            query = query.where(Source.created_by == created_by)
        return paginate(self.session, query, request)

    def delete(self, source: Source) -> None:
        self.session.delete(source)

    def last_runs(self, source_ids: list[uuid.UUID]) -> dict[uuid.UUID, SourceRun]:
        """The newest run of each source."""
        if not source_ids:
            return {}
        query = (
            select(SourceRun)
            .where(SourceRun.source_id.in_(source_ids))
            .order_by(SourceRun.created_at, SourceRun.id)
        )
        return {run.source_id: run for run in self.session.scalars(query)}

    def run_for_job(self, job_id: uuid.UUID) -> SourceRun | None:
        return self.session.scalar(select(SourceRun).where(SourceRun.job_id == job_id))

    def get_run(self, run_id: uuid.UUID) -> SourceRun | None:
        return self.session.get(SourceRun, run_id)

    def page_at(self, source_id: uuid.UUID, url: str) -> SourcePage | None:
        query = select(SourcePage).where(SourcePage.source_id == source_id, SourcePage.url == url)
        return self.session.scalar(query)

    def set_page(self, source_id: uuid.UUID, url: str, document_id: uuid.UUID) -> None:
        """Record that the page at `url` lives in `document_id` (replacing an earlier document)."""
        page = self.page_at(source_id, url)
        if page is None:
            self.session.add(
                SourcePage(id=uuid.uuid4(), source_id=source_id, url=url, document_id=document_id)
            )
        else:
            page.document_id = document_id
