"""Spending caps, and what answers spent since a moment (what a cap is compared with)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.records import Budget, ChatMessage, ChatSession


class BudgetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, org_id: uuid.UUID, user_id: uuid.UUID | None) -> Budget | None:
        owner = Budget.user_id.is_(None) if user_id is None else Budget.user_id == user_id
        return self.session.scalar(select(Budget).where(Budget.org_id == org_id, owner))

    def add(self, budget: Budget) -> Budget:
        self.session.add(budget)
        return budget

    def of_org(self, org_id: uuid.UUID) -> list[Budget]:
        query = select(Budget).where(Budget.org_id == org_id).order_by(Budget.user_id.is_not(None))
        return list(self.session.scalars(query))

    def spent_since(
        self, org_id: uuid.UUID, user_id: uuid.UUID | None, start: datetime
    ) -> list[tuple[int, int, str | None]]:
        """(prompt tokens, completion tokens, cost) of every answer since `start`, in the organisation or by
        one user."""
        query = (
            select(ChatMessage.prompt_tokens, ChatMessage.completion_tokens, ChatMessage.cost_usd)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .where(
                ChatSession.org_id == org_id,
                ChatMessage.role == "assistant",
                ChatMessage.created_at >= start,
            )
        )
        if user_id is not None:
            query = query.where(ChatSession.user_id == user_id)
        return [(p, c, cost) for p, c, cost in self.session.execute(query)]
