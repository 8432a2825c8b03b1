"""POST /chat (JSON or SSE), the caller's chat sessions, feedback on answers, and the admins' usage sums."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.sse import EventSourceResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from docent.answer.chain import PROVIDER_FAILED
from docent.answer.events import Error, StreamEvent, to_sse
from docent.answer.service import MAX_QUESTION_CHARS, ChatResult
from docent.answer.types import Citation, cost_json, usage_json
from docent.answer.usage import UsageReport
from docent.api.deps import (
    AdminDep,
    ContainerDep,
    PrincipalDep,
    StandalonePrincipalDep,
    UnitOfWorkDep,
    require_admin,
)
from docent.api.routes import API_PREFIX
from docent.api.routes.search import FiltersIn
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.errors import ErrorCode
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/chat", tags=["chat"])
usage_router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(require_admin)])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the question is blank")
    return value


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(_not_blank)]
    session_id: uuid.UUID | None = None
    stream: bool = False
    filters: FiltersIn = Field(default_factory=FiltersIn)
    model: str | None = Field(
        default=None,
        max_length=200,
        description="One answerer of the chain, as `GET /v1/models` lists it (`provider:model`), to answer "
        "alone with the extractive answerer standing by; omitted or `docent`: the whole chain. An unknown "
        "name is 422.",
    )


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str | None = Field(description="USD as a decimal string; null when the model has no price")
    provider: str
    model: str
    retrieval_ms: float
    generation_ms: float
    cached: bool = Field(
        default=False,
        description="Served from the answer cache: no model ran; provider and model are the original's",
    )


class ChatOut(BaseModel):
    answer: str
    citations: list[Citation]
    session_id: uuid.UUID
    message_id: uuid.UUID
    usage: UsageOut


def _chat_out(result: ChatResult) -> ChatOut:
    answer = result.answer
    return ChatOut(
        answer=answer.text,
        citations=list(answer.citations),
        session_id=result.session_id,
        message_id=result.message_id,
        usage=UsageOut(
            **usage_json(answer.usage, with_estimated=False),
            cost_usd=cost_json(answer.cost_usd),
            provider=answer.provider,
            model=answer.model,
            retrieval_ms=round(result.retrieval_ms, 1),
            generation_ms=round(result.generation_ms, 1),
            cached=answer.cached,
        ),
    )


async def _sse(events: Generator[StreamEvent, None, Any]) -> AsyncIterator[str]:
    """The service's events as SSE frames; each step runs in a worker thread. However the response ends
    (finished, or the client went away), the generator is closed, so the service keeps what was said."""
    try:
        while True:
            event = await run_in_threadpool(next, events, None)
            if event is None:
                return
            yield to_sse(event)
    except Exception:  # after the first byte a failure is an event, never a stack trace
        yield to_sse(Error(ErrorCode.INTERNAL_ERROR.value, "Internal server error."))
    finally:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(events.close)


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` Server-Sent Events: `meta` {session_id, message_id}, "
        "`token` {text}…, `citations` {citations}, "
        "`done` {usage, provider, model, latency_ms, cost_usd, cached}; "
        f"or `error` {{error: {{code, message}}}} (e.g. `{PROVIDER_FAILED}`).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post("", response_model=ChatOut, responses=_SSE_DOC, summary="Ask; answer with citations")
def ask(body: ChatIn, principal: StandalonePrincipalDep, container: ContainerDep) -> Any:
    chat = container.chat
    prepared = chat.prepare(
        principal,
        body.question,
        session_id=body.session_id,
        filters=body.filters.to_filters(),
        model=body.model,
    )
    if body.stream:
        return EventSourceResponse(_sse(chat.stream(prepared)), headers={"Cache-Control": "no-cache"})
    return _chat_out(chat.answer(prepared))


class SessionOut(OrmModel):
    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime


class MessageOut(OrmModel):
    id: uuid.UUID
    role: str
    text: str
    citations: list[Citation]
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str | None
    retrieval_ms: int | None
    generation_ms: int | None
    rewritten_question: str | None
    created_at: datetime


class SessionDetailOut(SessionOut):
    messages: list[MessageOut]


@router.get(
    "/sessions", response_model=PageOut[SessionOut], summary="The caller's chat sessions, latest first"
)
def list_sessions(
    principal: PrincipalDep,
    container: ContainerDep,
    uow: UnitOfWorkDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return page_out(container.history.sessions(uow, principal, PageRequest(page, page_size)), SessionOut)


@router.get(
    "/sessions/{session_id}", response_model=SessionDetailOut, summary="One session with its messages"
)
def get_session(
    session_id: uuid.UUID, principal: PrincipalDep, container: ContainerDep, uow: UnitOfWorkDep
) -> Any:
    chat, messages = container.history.session(uow, principal, session_id)
    return SessionDetailOut(
        **SessionOut.model_validate(chat).model_dump(),
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a session")
def delete_session(
    session_id: uuid.UUID, principal: PrincipalDep, container: ContainerDep, uow: UnitOfWorkDep
) -> Response:
    container.history.delete_session(uow, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackOut(OrmModel):
    message_id: uuid.UUID
    rating: str
    comment: str | None
    created_at: datetime


@router.post("/messages/{message_id}/feedback", response_model=FeedbackOut, summary="Rate an answer")
def rate_answer(
    message_id: uuid.UUID,
    body: FeedbackIn,
    principal: PrincipalDep,
    container: ContainerDep,
    uow: UnitOfWorkDep,
) -> Any:
    feedback = container.history.rate(uow, principal, message_id, body.rating, body.comment)
    return FeedbackOut.model_validate(feedback)


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


def _report_out(report: UsageReport) -> UsageReportOut:
    def keyed(sums: dict[str, Any]) -> list[KeyedUsageOut]:
        return [KeyedUsageOut(key=key, **value.as_dict()) for key, value in sorted(sums.items())]

    return UsageReportOut(
        total=UsageSumOut(**report.total.as_dict()),
        by_user=keyed(report.by_user),
        by_model=keyed(report.by_model),
        by_day=keyed(report.by_day),
    )


@usage_router.get(
    "/usage", response_model=UsageReportOut, summary="Answers, tokens and cost by user, model, day"
)
def usage(
    admin: AdminDep,
    container: ContainerDep,
    uow: UnitOfWorkDep,
    from_: Annotated[date | None, Query(alias="from", description="First day (UTC), included")] = None,
    to: Annotated[date | None, Query(description="Last day (UTC), included")] = None,
) -> UsageReportOut:
    start = datetime.combine(from_, time(), tzinfo=UTC) if from_ else None
    end = datetime.combine(to + timedelta(days=1), time(), tzinfo=UTC) if to else None
    return _report_out(container.history.usage(uow, admin, start, end))
