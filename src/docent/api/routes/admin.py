from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from docent.api.deps import AdminDep, ContainerDep, UnitOfWorkDep, require_admin, require_standalone_admin
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.search.index_check import IndexReport, check_index, rebuild_index
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(require_admin)])
# The index routes run transactions of their own: the caller is authenticated in a separate one.
index_router = APIRouter(
    prefix=f"{API_PREFIX}/admin/index", tags=["admin"], dependencies=[Depends(require_standalone_admin)]
)


class AuditEventOut(OrmModel):
    id: uuid.UUID
    action: str
    actor_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]
    created_at: datetime


@router.get(
    "/audit", response_model=PageOut[AuditEventOut], summary="The organisation's audit log, newest first"
)
def list_audit_events(
    admin: AdminDep,
    container: ContainerDep,
    uow: UnitOfWorkDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    return page_out(container.audit.list(uow, admin, PageRequest(page, page_size), action), AuditEventOut)


class IndexReportOut(BaseModel):
    ok: bool
    chunks: int
    embedding_model: str | None
    problems: dict[str, int]


def _report_out(report: IndexReport) -> IndexReportOut:
    return IndexReportOut(
        ok=report.ok, chunks=report.chunks, embedding_model=report.embedding_model, problems=report.problems
    )


@index_router.post(
    "/check", response_model=IndexReportOut, summary="Compare chunks, vectors, keyword rows, files"
)
def check_search_index(container: ContainerDep) -> IndexReportOut:
    return _report_out(
        check_index(
            container.database, container.blobs, container.retriever.vectors, container.retriever.keywords
        )
    )


@index_router.post(
    "/rebuild",
    response_model=IndexReportOut,
    summary="Re-derive keyword rows and vectors, remove strays; other requests keep being answered",
)
def rebuild_search_index(container: ContainerDep) -> IndexReportOut:
    report = rebuild_index(
        container.database,
        container.blobs,
        container.embedder,
        vectors=container.retriever.vectors,
        keywords=container.retriever.keywords,
    )
    return _report_out(report)
