"""POST /chat (JSON or SSE), the caller's chat sessions, and feedback on answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from docent.answer.chain import PROVIDER_FAILED
from docent.answer.service import MAX_QUESTION_CHARS, ChatResult
from docent.answer.types import Citation, cost_json, usage_json
from docent.api.deps import (
    ChatHistoryDep,
    ChatServiceDep,
    EventStreamsDep,
    PrincipalDep,
    ReadOnlyDep,
    StreamSlotsDep,
    TransactionDep,
    rate_limit,
)
from docent.api.routes import API_PREFIX
from docent.api.routes.search import FiltersIn
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.api.streaming import DocentEvents
from docent.auth.rate_limits import RateLimitKind
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/chat", tags=["chat"])


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
    notice: str | None = Field(
        default=None, description="Why no model was asked (a spent budget): the answer is extracted"
    )

    @classmethod
    def of(cls, result: ChatResult) -> ChatOut:
        answer = result.answer
        tokens = usage_json(answer.usage, with_estimated=False)
        usage = UsageOut(
            **tokens,
            cost_usd=cost_json(answer.cost_usd),
            provider=answer.provider,
            model=answer.model,
            retrieval_ms=round(result.retrieval_ms, 1),
            generation_ms=round(result.generation_ms, 1),
            cached=answer.cached,
        )
        return cls(
            answer=answer.text,
            citations=list(answer.citations),
            session_id=result.session_id,
            message_id=result.message_id,
            usage=usage,
            notice=answer.notice,
        )


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` Server-Sent Events: `meta` {session_id, message_id}, "
        "`token` {text}…, `citations` {citations}, "
        "`done` {usage, provider, model, latency_ms, cost_usd, cached}; "
        f"or `error` {{error: {{code, message}}}} (e.g. `{PROVIDER_FAILED}`).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "",
    response_model=ChatOut,
    responses=_SSE_DOC,
    summary="Ask; answer with citations",
    dependencies=[rate_limit(RateLimitKind.CHAT)],
)
def ask(
    body: ChatIn,
    principal: PrincipalDep,
    chat: ChatServiceDep,
    streams: EventStreamsDep,
    slots: StreamSlotsDep,
) -> Any:
    filters = body.filters.to_filters()
    prepared = chat.prepare(
        principal, body.question, session_id=body.session_id, filters=filters, model=body.model
    )
    if body.stream:
        give_back = slots.take(str(principal.user_id))
        return streams.respond(chat.stream(prepared), DocentEvents(), on_close=give_back)
    return ChatOut.of(chat.answer(prepared))


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
    history: ChatHistoryDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    return page_out(history.sessions(uow, principal, PageRequest(page, page_size)), SessionOut)


@router.get(
    "/sessions/{session_id}", response_model=SessionDetailOut, summary="One session with its messages"
)
def get_session(
    session_id: uuid.UUID, principal: PrincipalDep, history: ChatHistoryDep, uow: ReadOnlyDep
) -> Any:
    chat, messages = history.session(uow, principal, session_id)
    return SessionDetailOut(
        **SessionOut.model_validate(chat).model_dump(),
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a session")
def delete_session(
    session_id: uuid.UUID, principal: PrincipalDep, history: ChatHistoryDep, uow: TransactionDep
) -> Response:
    history.delete_session(uow, principal, session_id)
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
    history: ChatHistoryDep,
    uow: TransactionDep,
) -> Any:
    feedback = history.rate(uow, principal, message_id, body.rating, body.comment)
    return FeedbackOut.model_validate(feedback)
