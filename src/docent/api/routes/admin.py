"""/admin: the audit log, the usage sums, rated answers, and the search index's check and rebuild (admins
only)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictInt

from docent.answer.budgets import Cap
from docent.answer.usage import UsageReport
from docent.api.deps import (
    AccessServiceDep,
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
from docent.db.repositories.access import AccessFilters
from docent.db.repositories.chat import RatedAnswer
from docent.search.index_check import IndexReport
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(require_admin)])


class AuditEventOut(OrmModel):
    """Something that happened: who did what to what, from where."""

    id: uuid.UUID
    action: str = Field(description="e.g. `auth.login`, `user.created`, `document.deleted`")
    actor_id: uuid.UUID | None = Field(description="The user who acted; null for an unknown account")
    target_type: str | None = Field(description="`user`, `group`, `document`, ...")
    target_id: str | None
    ip: str | None = Field(description="The client's address")
    request_id: str | None = Field(description="The request's `X-Request-ID`, to find it in the logs")
    details: dict[str, Any] = Field(description="More, depending on the action; never secrets")
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
    """Admins only. Logins, user, group, key and document changes of the organisation, newest first,
    optionally of one `action`."""
    return page_out(audit.list(uow, admin, PageRequest(page, page_size), action), AuditEventOut)


class UsageSumOut(BaseModel):
    """Answers and what they cost."""

    answers: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str | None = Field(description="USD as a decimal string; null if any answer had no price")
    unpriced_answers: int = Field(description="Answers by models without a price")


class KeyedUsageOut(UsageSumOut):
    """The sums of one user, model or day."""

    key: str = Field(description="The user's email, `provider:model`, or the day (YYYY-MM-DD)")


class UsageReportOut(BaseModel):
    """The organisation's usage over the days asked for."""

    total: UsageSumOut = Field(description="All answers")
    by_user: list[KeyedUsageOut] = Field(description="Per user")
    by_model: list[KeyedUsageOut] = Field(description="Per provider and model")
    by_day: list[KeyedUsageOut] = Field(description="Per day (UTC)")


def _usage_out(report: UsageReport) -> UsageReportOut:
    def keyed(sums: dict[str, Any]) -> list[KeyedUsageOut]:
        return [KeyedUsageOut(key=key, **value.as_dict()) for key, value in sorted(sums.items())]

    return UsageReportOut(
        total=UsageSumOut(**report.total.as_dict()),
        by_user=keyed(report.by_user),
        by_model=keyed(report.by_model),
        by_day=keyed(report.by_day),
    )


def _iso_date(value: object) -> object:
    """YYYY-MM-DD, as the document says: pydantic would also read a number as seconds since 1970."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
Day = Annotated[date | None, BeforeValidator(_iso_date)]


def _iso_instant(value: object) -> object:
    """An ISO 8601 instant, as the document says: pydantic would also read a number as seconds since 1970."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("an instant is written YYYY-MM-DDTHH:MM:SS, with or without a zone")
    return value


Instant = Annotated[datetime | None, BeforeValidator(_iso_instant)]


@router.get("/usage", response_model=UsageReportOut, summary="Answers, tokens and cost by user, model, day")
def usage(
    admin: AdminDep,
    history: ChatHistoryDep,
    uow: ReadOnlyDep,
    from_: Annotated[Day, Query(alias="from", description="First day (UTC), included")] = None,
    to: Annotated[Day, Query(description="Last day (UTC), included")] = None,
) -> UsageReportOut:
    """Admins only. Answers, tokens and cost in USD summed over the organisation, and by user, model and day,
    for the days between `from` and `to` (both included, UTC)."""
    start = datetime.combine(from_, time(), tzinfo=UTC) if from_ else None
    end = datetime.combine(to + timedelta(days=1), time(), tzinfo=UTC) if to else None
    return _usage_out(history.usage(uow, admin, start, end))


class IndexReportOut(BaseModel):
    """The search index compared with the chunks it is derived from."""

    ok: bool = Field(description="No problem found")
    chunks: int = Field(description="Chunks in the database")
    embedding_model: str | None = Field(description="The model the vectors were made with")
    problems: dict[str, int] = Field(description="Each kind of problem and how many were found")


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
    """Admins only. Compares chunks with their vectors, keyword rows and stored files and counts each kind of
    problem; changes nothing."""
    return _report_out(index.check())


@router.post(
    "/index/rebuild",
    response_model=IndexReportOut,
    summary="Re-derive keyword rows and vectors, remove strays; other requests keep being answered",
)
def rebuild_search_index(index: IndexMaintenanceDep) -> IndexReportOut:
    """Admins only. Re-derives keyword rows and vectors from the chunks and removes strays, batch by batch;
    searches keep being answered meanwhile."""
    return _report_out(index.rebuild())


class RatedAnswerOut(BaseModel):
    """A rated answer with its question."""

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
    """Admins only. Rated answers with their question, answer, citations and comment, newest rating first,
    optionally only `up` or `down`."""
    found = feedback.page(uow, admin, rating, PageRequest(page, page_size))
    items = [_out(r) for r in found.items]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


class AccessRecordOut(BaseModel):
    user_id: uuid.UUID
    email: str | None
    api_key_id: uuid.UUID | None
    route: str
    document_id: uuid.UUID
    title: str | None
    version: int | None
    chunk_id: int | None = None  # None: the document's file was downloaded
    shown_at: datetime


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@router.get(
    "/access",
    response_model=PageOut[AccessRecordOut],
    summary="Who was shown which chunks, when, through which route (newest first)",
)
def list_access(
    admin: AdminDep,
    access_log: AccessServiceDep,
    uow: ReadOnlyDep,
    document_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    from_: Annotated[Instant, Query(alias="from", description="Shown at or after (UTC if no zone)")] = None,
    to: Annotated[Instant, Query(description="Shown before (UTC if no zone)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """Who was shown which chunks, newest first: filter by document ("who saw D") or by user ("what did U
    see") and by time; records older than DOCENT_ACCESS_RETENTION_DAYS are pruned."""
    filters = AccessFilters(document_id, user_id, _utc(from_), _utc(to))
    found = access_log.page(uow, admin, filters, PageRequest(page, page_size))
    items = [
        AccessRecordOut(
            user_id=row.record.user_id,
            email=row.email,
            api_key_id=row.record.api_key_id,
            route=row.record.route,
            document_id=row.record.document_id,
            title=row.title,
            version=row.record.version,
            chunk_id=row.record.chunk_id,
            shown_at=row.record.shown_at,
        )
        for row in found.items
    ]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_tokens: StrictInt | None = Field(default=None, ge=0, le=10**15, description="null: no cap on tokens")
    max_cost_usd: StrictFloat | None = Field(
        default=None, ge=0, le=10**9, description="USD (a JSON number); null: no cap on cost"
    )

    def cap(self) -> Cap:
        cost = None if self.max_cost_usd is None else Decimal(str(self.max_cost_usd))
        return Cap(self.max_tokens, cost)


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
    """The organisation's monthly model budget and its members', in tokens and/or USD; null is no cap."""
    return [BudgetOut.model_validate(b) for b in budgets.list(uow, admin)]


@router.put(
    "/budgets/organization", response_model=BudgetOut, summary="Set the organisation's monthly model budget"
)
def set_org_budget(
    body: BudgetIn, admin: AdminDep, budgets: BudgetServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
    """Sets the organisation's monthly (UTC) model budget. Once spent, no model is called: the extractive
    answerer answers and says why."""
    return BudgetOut.model_validate(budgets.set(uow, admin, None, body.cap(), context))


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
    """Sets one member's monthly (UTC) model budget, on top of the organisation's."""
    cap = body.cap()
    return BudgetOut.model_validate(budgets.set(uow, admin, user_id, cap, context))
