"""Budgets: what answers may spend on models in a calendar month (UTC), set by admins for the organisation
and for single members, and what is left of them.

A budget caps tokens, cost (USD), or both; once the organisation's or the member's is spent, no model is
asked for that member's answers until the month ends: the extractive answerer answers alone and says why
(`BudgetStatus.reason`). An answer whose model has no price counts its tokens but no cost (it is counted in
`unpriced_answers`, as in the usage report).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from docent.auth.audit import RequestContext, record
from docent.auth.policy import Principal, ensure_admin
from docent.db.records import Budget
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode

_EXTRACTED = "this answer is quoted from the documents without a language model."


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Spending:
    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_answers: int = 0

    @classmethod
    def of(cls, rows: list[tuple[int, int, str | None]]) -> Spending:
        tokens = sum(prompt + completion for prompt, completion, _ in rows)
        cost = sum((Decimal(c) for _, _, c in rows if c is not None), Decimal(0))
        return cls(tokens, cost, sum(1 for *_, c in rows if c is None))


@dataclass(frozen=True)
class Cap:
    """One budget's limits; None is no limit."""

    max_tokens: int | None = None
    max_cost_usd: Decimal | None = None

    @classmethod
    def of(cls, budget: Budget | None) -> Cap:
        if budget is None:
            return cls()
        cost = Decimal(budget.max_cost_usd) if budget.max_cost_usd is not None else None
        return cls(budget.max_tokens, cost)

    def remaining(self, spent: Spending) -> tuple[int | None, Decimal | None]:
        tokens = None if self.max_tokens is None else max(0, self.max_tokens - spent.tokens)
        cost = None if self.max_cost_usd is None else max(Decimal(0), self.max_cost_usd - spent.cost_usd)
        return tokens, cost

    def spent_by(self, spent: Spending) -> bool:
        tokens, cost = self.remaining(spent)
        return tokens == 0 or cost == Decimal(0)


@dataclass(frozen=True)
class BudgetStatus:
    period_start: datetime
    user_spent: Spending
    user_cap: Cap
    org_spent: Spending
    org_cap: Cap

    @property
    def reason(self) -> str | None:
        """Why models are not asked, or None when they may be."""
        if self.org_cap.spent_by(self.org_spent):
            return f"The organisation's model budget for this month is spent; {_EXTRACTED}"
        if self.user_cap.spent_by(self.user_spent):
            return f"Your model budget for this month is spent; {_EXTRACTED}"
        return None


class BudgetService:
    def __init__(self, clock: type[datetime] = datetime) -> None:
        self._clock = clock

    def status(self, uow: UnitOfWork, principal: Principal) -> BudgetStatus:
        start = month_start(self._clock.now(UTC))
        org, user = principal.org_id, principal.user_id
        return BudgetStatus(
            period_start=start,
            user_spent=Spending.of(uow.budgets.spent_since(org, user, start)),
            user_cap=Cap.of(uow.budgets.get(org, user)),
            org_spent=Spending.of(uow.budgets.spent_since(org, None, start)),
            org_cap=Cap.of(uow.budgets.get(org, None)),
        )

    def list(self, uow: UnitOfWork, admin: Principal) -> list[Budget]:
        ensure_admin(admin)
        return uow.budgets.of_org(admin.org_id)

    def set(
        self,
        uow: UnitOfWork,
        admin: Principal,
        user_id: uuid.UUID | None,
        cap: Cap,
        context: RequestContext,
    ) -> Budget:
        """Set the organisation's budget (`user_id` None) or a member's; a Cap of Nones lifts it."""
        ensure_admin(admin)
        if user_id is not None:
            user = uow.users.get(user_id)
            if user is None or user.org_id != admin.org_id:
                raise DocentError(ErrorCode.USER_NOT_FOUND)
        budget = uow.budgets.get(admin.org_id, user_id)
        if budget is None:
            budget = uow.budgets.add(Budget(id=uuid.uuid4(), org_id=admin.org_id, user_id=user_id))
        budget.max_tokens = cap.max_tokens
        budget.max_cost_usd = None if cap.max_cost_usd is None else str(cap.max_cost_usd)
        budget.updated_at = self._clock.now(UTC)
        details = {
            "user_id": str(user_id) if user_id else None,
            "max_tokens": cap.max_tokens,
            "max_cost_usd": budget.max_cost_usd,
        }
        record(
            uow,
            context,
            "budget.set",
            org_id=admin.org_id,
            actor_id=admin.user_id,
            target_type="budget",
            target_id=budget.id,
            details=details,
        )
        uow.flush()
        return budget
