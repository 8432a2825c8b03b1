"""GET /admin/feedback: the answers people rated, with question, answer, citations and comment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from docent.api.deps import AdminDep, ContainerDep, UnitOfWorkDep, require_admin
from docent.api.routes import API_PREFIX
from docent.api.schemas import PageOut
from docent.db.repositories.chat import RatedAnswer
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"], dependencies=[Depends(require_admin)])


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
    container: ContainerDep,
    uow: UnitOfWorkDep,
    rating: Literal["up", "down"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    found = container.feedback.page(uow, admin, rating, PageRequest(page, page_size))
    items = [_out(r) for r in found.items]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}
