"""/admin: the audit log, the usage sums, rated answers, and the search index's check and rebuild (admins
only)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from docent.answer.budgets import Cap
from docent.answer.usage import UsageReport
from docent.api.deps import (
    AdminDep,
    AuditServiceDep,
    BudgetServiceDep,
    ChatHistoryDep,
    ContextDep,
    FeedbackServiceDep,
    IndexMaintenanceDep,
    ReadOnlyDep,
    TransactionDep,
    require_admin,
)
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.db.repositories.chat import RatedAnswer
from docent.search.index_check import IndexReport
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(require_admin)])


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
    audit: AuditServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    return page_out(audit.list(uow, admin, PageRequest(page, page_size), action), AuditEventOut)


class UsageSumOut(BaseModel):
    answers: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str | None
    unpriced_answers: int


class KeyedUsageOut(UsageSumOut):
    key: str


class UsageReportOut(BaseModel):
    total: UsageSumOut
    by_user: list[KeyedUsageOut]
    by_model: list[KeyedUsageOut]
    by_day: list[KeyedUsageOut]


def _usage_out(report: UsageReport) -> UsageReportOut:
    def keyed(sums: dict[str, Any]) -> list[KeyedUsageOut]:
        return [KeyedUsageOut(key=key, **value.as_dict()) for key, value in sorted(sums.items())]

    return UsageReportOut(
        total=UsageSumOut(**report.total.as_dict()),
        by_user=keyed(report.by_user),
        by_model=keyed(report.by_model),
        by_day=keyed(report.by_day),
    )


@router.get("/usage", response_model=UsageReportOut, summary="Answers, tokens and cost by user, model, day")
def usage(
    admin: AdminDep,
    history: ChatHistoryDep,
    uow: ReadOnlyDep,
    from_: Annotated[date | None, Query(alias="from", description="First day (UTC), included")] = None,
    to: Annotated[date | None, Query(description="Last day (UTC), included")] = None,
) -> UsageReportOut:
    start = datetime.combine(from_, time(), tzinfo=UTC) if from_ else None
    end = datetime.combine(to + timedelta(days=1), time(), tzinfo=UTC) if to else None
    return _usage_out(history.usage(uow, admin, start, end))


class IndexReportOut(BaseModel):
    ok: bool
    chunks: int
    embedding_model: str | None
    problems: dict[str, int]


def _report_out(report: IndexReport) -> IndexReportOut:
    return IndexReportOut(
        ok=report.ok, chunks=report.chunks, embedding_model=report.embedding_model, problems=report.problems
    )


# The index routes run transactions of their own (a rebuild commits batch by batch): they take no unit of
# work from the request, and the caller was authenticated in a read-only one that has ended.
@router.post(
    "/index/check", response_model=IndexReportOut, summary="Compare chunks, vectors, keyword rows, files"
)
def check_search_index(index: IndexMaintenanceDep) -> IndexReportOut:
    return _report_out(index.check())


@router.post(
    "/index/rebuild",
    response_model=IndexReportOut,
    summary="Re-derive keyword rows and vectors, remove strays; other requests keep being answered",
)
def rebuild_search_index(index: IndexMaintenanceDep) -> IndexReportOut:
    return _report_out(index.rebuild())


class RatedAnswerOut(BaseModel):
    message_id: uuid.UUID
    session_id: uuid.UUID
    rating: str
    comment: str | None
    rated_at: datetime
    rated_by: str
    question: str | None
    answer: str
    citations: list[dict[str, Any]]
    provider: str | None
    model: str | None
    answered_at: datetime


def _out(rated: RatedAnswer) -> RatedAnswerOut:
    answer = rated.answer
    return RatedAnswerOut(
        message_id=answer.id,
        session_id=answer.session_id,
        rating=rated.feedback.rating,
        comment=rated.feedback.comment,
        rated_at=rated.feedback.created_at,
        rated_by=rated.rated_by,
        question=rated.question.text if rated.question else None,
        answer=answer.text,
        citations=answer.citations,
        provider=answer.provider,
        model=answer.model,
        answered_at=answer.created_at,
    )


@router.get("/feedback", response_model=PageOut[RatedAnswerOut], summary="Rated answers, newest rating first")
def list_feedback(
    admin: AdminDep,
    feedback: FeedbackServiceDep,
    uow: ReadOnlyDep,
    rating: Literal["up", "down"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    found = feedback.page(uow, admin, rating, PageRequest(page, page_size))
    items = [_out(r) for r in found.items]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, ge=0, le=10**15, description="null: no cap on tokens")
    max_cost_usd: Decimal | None = Field(
        default=None, ge=0, le=10**9, max_digits=20, decimal_places=6, description="USD; null: no cap on cost"
    )


class BudgetOut(OrmModel):
    id: uuid.UUID
    user_id: uuid.UUID | None = Field(description="null: the organisation's budget")
    max_tokens: int | None
    max_cost_usd: str | None
    updated_at: datetime


@router.get(
    "/budgets",
    response_model=list[BudgetOut],
    summary="Monthly model budgets: the organisation's, then members'",
)
def list_budgets(admin: AdminDep, budgets: BudgetServiceDep, uow: ReadOnlyDep) -> Any:
    return [BudgetOut.model_validate(b) for b in budgets.list(uow, admin)]


@router.put(
    "/budgets/organization", response_model=BudgetOut, summary="Set the organisation's monthly model budget"
)
def set_org_budget(
    body: BudgetIn, admin: AdminDep, budgets: BudgetServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
    return BudgetOut.model_validate(
        budgets.set(uow, admin, None, Cap(body.max_tokens, body.max_cost_usd), context)
    )


@router.put(
    "/budgets/users/{user_id}", response_model=BudgetOut, summary="Set a member's monthly model budget"
)
def set_user_budget(
    user_id: uuid.UUID,
    body: BudgetIn,
    admin: AdminDep,
    budgets: BudgetServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Any:
    cap = Cap(body.max_tokens, body.max_cost_usd)
    return BudgetOut.model_validate(budgets.set(uow, admin, user_id, cap, context))
