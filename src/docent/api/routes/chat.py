"""POST /chat (JSON or SSE), the caller's chat sessions, and feedback on answers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from docent.answer.chain import PROVIDER_FAILED
from docent.answer.events import Step, StreamEvent
from docent.answer.service import MAX_QUESTION_CHARS, ChatResult
from docent.answer.types import AgentStep, Citation, cost_json, usage_json
from docent.api import shown
from docent.api.deps import (
    AccessRecorderDep,
    ChatHistoryDep,
    ChatServiceDep,
    EventStreamsDep,
    PrincipalDep,
    ReadOnlyDep,
    StreamSlotsDep,
    TransactionDep,
    rate_limit,
)
from docent.api.openapi import DOCENT_EVENT, errors, event_stream
from docent.api.routes import API_PREFIX
from docent.api.routes.search import FiltersIn
from docent.api.schemas import OrmModel, PageOut, page_out
from docent.api.streaming import DocentEvents
from docent.auth.access import Shown
from docent.auth.rate_limits import RateLimitKind
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/chat", tags=["chat"])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the question is blank")
    return value


class ChatIn(BaseModel):
    """A question to answer from the documents the caller may read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "How many days of parental leave do we get?", "filters": {"tags": ["hr"]}},
                {
                    "question": "And for part-time staff?",
                    "session_id": "0b6f9a8e-3c1d-4e5f-8a7b-9c0d1e2f3a4b",
                },
            ]
        },
    )

    question: Annotated[
        str,
        Field(min_length=1, max_length=MAX_QUESTION_CHARS, description="The question; not blank"),
        AfterValidator(_not_blank),
    ]
    session_id: uuid.UUID | None = Field(
        default=None, description="Continue this conversation of the caller's; omitted: start one"
    )
    stream: StrictBool = Field(
        default=False, description="Answer as Server-Sent Events (see the 200 response)"
    )
    filters: FiltersIn = Field(default_factory=FiltersIn, description="Answer only from these documents")
    model: str | None = Field(
        default=None,
        max_length=200,
        description="One answerer of the chain, as `GET /v1/models` lists it (`provider:model`), to answer "
        "alone with the extractive answerer standing by; omitted or `docent`: the whole chain. An unknown "
        "name is 400 `unknown_model`.",
    )
    mode: Literal["normal", "agent"] = Field(
        default="normal",
        description="`agent`: a model that can call tools searches the caller's documents (with the caller's "
        "permissions and these filters) up to DOCENT_AGENT_MAX_STEPS times before it answers; each search is "
        "a `step`. Without such a model the answer is a normal one (`mode: normal` in the reply, with a "
        "`notice` saying so).",
    )


class UsageOut(BaseModel):
    """What the answer cost."""

    prompt_tokens: int = Field(description="Tokens sent to the model")
    completion_tokens: int = Field(description="Tokens the model wrote")
    total_tokens: int = Field(description="Both")
    cost_usd: str | None = Field(description="USD as a decimal string; null when the model has no price")
    provider: str = Field(description="Who answered, e.g. `openai` or `extractive`")
    model: str = Field(description="The model that answered")
    retrieval_ms: float = Field(description="Time spent finding passages, in milliseconds")
    generation_ms: float = Field(description="Time spent writing the answer, in milliseconds")
    cached: bool = Field(
        default=False,
        description="Served from the answer cache: no model ran; provider and model are the original's",
    )


class HitOut(BaseModel):
    """A document a search of agent mode found (one the caller may read)."""

    document_id: uuid.UUID
    title: str


class StepOut(BaseModel):
    """One search agent mode ran before answering."""

    step: int = Field(description="1 for the first search")
    query: str = Field(description="What the model searched for")
    hits: list[HitOut] = Field(description="The documents found, each once, best first")
    repeated: bool = Field(description="The query had been searched already: not run again")

    @classmethod
    def of(cls, step: AgentStep) -> StepOut:
        hits = [HitOut.model_validate(hit) for hit in step.hits()]
        return cls(step=step.number, query=step.query, hits=hits, repeated=step.repeated)


class ChatOut(BaseModel):
    """An answer grounded in the caller's documents."""

    answer: str = Field(
        description="The answer, citing passages as [1], [2], ...; or that the documents "
        "do not cover the question"
    )
    citations: list[Citation] = Field(description="The passages cited, by their number in the answer")
    session_id: uuid.UUID = Field(description="The conversation; send it back to ask a follow-up")
    message_id: uuid.UUID = Field(description="This answer; rate it at `/chat/messages/{id}/feedback`")
    usage: UsageOut = Field(description="Tokens, cost and time")
    abstained: bool = Field(description="The documents the asker may read do not cover the question")
    confidence: float | None = Field(
        ge=0,
        le=1,
        description="Calibrated probability that the documents shown hold the answer (null for an answer "
        "cached before confidence was kept)",
    )
    notice: str | None = Field(
        default=None,
        description="Why no model was asked (a spent budget), or that agent mode was asked for but no model "
        "that can call tools was available",
    )
    mode: Literal["normal", "agent"] = Field(
        default="normal", description="`agent`: the model searched (`steps`) before the answer was written"
    )
    steps: list[StepOut] = Field(default_factory=list, description="Agent mode's searches, in order")

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
            abstained=answer.abstained,
            confidence=answer.confidence,
            notice=answer.notice,
            mode=answer.mode,
            steps=[StepOut.of(step) for step in answer.steps],
        )


_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: event_stream(
        DOCENT_EVENT,
        "JSON, or with `stream: true` Server-Sent Events: `meta` {session_id, message_id}, in agent mode "
        "`step` {step, query, hits: [{document_id, title}], repeated}… before the answer, `token` {text}…, "
        "`citations` {citations}, `done` {usage, provider, model, latency_ms, cost_usd, cached, abstained, "
        "confidence, mode, notice?}; or `error` "
        f"{{error: {{code, message}}}} (e.g. `{PROVIDER_FAILED}`) when the answer fails after it began.",
    ),
    **errors(400, 404, 502),
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
    access: AccessRecorderDep,
    slots: StreamSlotsDep,
) -> Any:
    """Answers the question from the documents the caller may read, citing the passages it used as [1], [2],
    ...; when they do not cover it, says so instead of guessing. `session_id` continues a conversation (a
    follow-up is rewritten to stand alone). With `stream: true` the answer comes as Server-Sent Events (see
    the 200 response). `mode: agent` lets a model that can call tools search several times first."""
    filters = body.filters.to_filters()
    prepared = chat.prepare(
        principal,
        body.question,
        session_id=body.session_id,
        filters=filters,
        model=body.model,
        mode=body.mode,
    )
    access.record(principal, "chat", shown.answer_passages(prepared))
    if body.stream:
        give_back = slots.take(str(principal.user_id))
        events = _recording_steps(chat.stream(prepared), lambda s: access.record(principal, "chat", s))
        return streams.respond(events, DocentEvents(), on_close=give_back)
    result = chat.answer(prepared)
    access.record(principal, "chat", shown.agent_steps(result.answer.steps))
    return ChatOut.of(result)


def _recording_steps(
    events: Generator[StreamEvent, None, ChatResult | None], record: Callable[[list[Shown]], None]
) -> Generator[StreamEvent, None, ChatResult | None]:
    """`events`, with the passages of each agent step recorded as shown when the step is sent."""
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                result: ChatResult | None = stop.value
                return result
            if isinstance(event, Step):
                record(shown.agent_steps([event.step]))
            yield event
    finally:
        events.close()


class SessionOut(OrmModel):
    """A conversation of the caller's."""

    id: uuid.UUID
    title: str = Field(description="Its first question, shortened")
    created_at: datetime
    updated_at: datetime = Field(description="Its last message")


class MessageOut(OrmModel):
    """A question (`user`) or an answer (`assistant`) of a conversation."""

    id: uuid.UUID
    role: str = Field(description="`user` or `assistant`")
    text: str = Field(description="The question or the answer")
    citations: list[Citation] = Field(description="An answer's cited passages")
    provider: str | None = Field(description="Who answered")
    model: str | None = Field(description="The model that answered")
    prompt_tokens: int
    completion_tokens: int
    cost_usd: str | None = Field(description="USD as a decimal string; null when the model has no price")
    retrieval_ms: int | None
    generation_ms: int | None
    rewritten_question: str | None = Field(description="A follow-up as it was searched for, standing alone")
    created_at: datetime


class SessionDetailOut(SessionOut):
    """A conversation with its messages."""

    messages: list[MessageOut] = Field(description="Oldest first")


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
    """The caller's own conversations, most recently active first."""
    return page_out(history.sessions(uow, principal, PageRequest(page, page_size)), SessionOut)


@router.get(
    "/sessions/{session_id}", response_model=SessionDetailOut, summary="One session with its messages"
)
def get_session(
    session_id: uuid.UUID, principal: PrincipalDep, history: ChatHistoryDep, uow: ReadOnlyDep
) -> Any:
    """One of the caller's conversations with its questions and answers, oldest first."""
    chat, messages = history.session(uow, principal, session_id)
    return SessionDetailOut(
        **SessionOut.model_validate(chat).model_dump(),
        messages=[MessageOut.model_validate(m) for m in messages],
    )


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a session")
def delete_session(
    session_id: uuid.UUID, principal: PrincipalDep, history: ChatHistoryDep, uow: TransactionDep
) -> Response:
    """Deletes one of the caller's conversations and its messages."""
    history.delete_session(uow, principal, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class FeedbackIn(BaseModel):
    """A rating of an answer."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"] = Field(description="Helpful or not")
    comment: str | None = Field(default=None, max_length=2000, description="What was right or wrong")


class FeedbackOut(OrmModel):
    """The caller's rating of an answer."""

    message_id: uuid.UUID = Field(description="The answer rated")
    rating: str = Field(description="`up` or `down`")
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
    """Rates one of the caller's answers `up` or `down`, with an optional comment; rating again replaces the
    rating. Admins read ratings at `GET /admin/feedback`."""
    feedback = history.rate(uow, principal, message_id, body.rating, body.comment)
    return FeedbackOut.model_validate(feedback)
