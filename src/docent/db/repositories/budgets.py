"""Spending caps, what answers spent since a moment (what a cap is compared with), and what answers in
progress have reserved."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from docent.db.records import Budget, BudgetReservation, ChatMessage, ChatSession


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

    def lock(self, org_id: uuid.UUID, user_id: uuid.UUID) -> list[Budget]:
        """The organisation's budget and the member's, locked until the transaction ends (PostgreSQL; on
        SQLite the write transaction already holds the database's one write lock). Always the organisation's
        row first, so two lockers never wait on each other in a cycle."""
        query = (
            select(Budget)
            .where(Budget.org_id == org_id, or_(Budget.user_id.is_(None), Budget.user_id == user_id))
            .order_by(Budget.user_id.is_not(None))
            .with_for_update()
        )
        return list(self.session.scalars(query))

    def reserved(self, org_id: uuid.UUID, user_id: uuid.UUID | None, now: datetime) -> list[tuple[int, str]]:
        """(tokens, cost) of every reservation alive at `now`, in the organisation or of one user."""
        query = select(BudgetReservation.tokens, BudgetReservation.cost_usd).where(
            BudgetReservation.org_id == org_id, BudgetReservation.expires_at > now
        )
        if user_id is not None:
            query = query.where(BudgetReservation.user_id == user_id)
        return [(tokens, cost) for tokens, cost in self.session.execute(query)]

    def add_reservation(self, reservation: BudgetReservation) -> None:
        self.session.add(reservation)
        self.session.flush()

    def drop_reservation(self, reservation_id: uuid.UUID) -> None:
        self.session.execute(delete(BudgetReservation).where(BudgetReservation.id == reservation_id))

    def drop_expired(self, org_id: uuid.UUID, now: datetime) -> None:
        self.session.execute(
            delete(BudgetReservation).where(
                BudgetReservation.org_id == org_id, BudgetReservation.expires_at <= now
            )
        )
