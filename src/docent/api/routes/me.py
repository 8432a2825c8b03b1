"""/me: what the caller has spent on models this month, and what is left of their budgets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from docent.answer.budgets import Cap
from docent.answer.cost import Spending
from docent.api.deps import BudgetServiceDep, PrincipalDep, ReadOnlyDep
from docent.api.routes import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/me", tags=["me"])


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class BudgetOut(BaseModel):
    max_tokens: int | None = Field(description="null: no cap on tokens")
    max_cost_usd: str | None = Field(description="USD as a decimal string; null: no cap on cost")
    remaining_tokens: int | None = Field(description="What is neither spent nor reserved; null: no cap")
    remaining_cost_usd: str | None


class SpendingOut(BaseModel):
    tokens: int
    cost_usd: str = Field(description="USD as a decimal string; answers of unpriced models count no cost")
    unpriced_answers: int
    reserved_tokens: int = Field(description="Held by answers in progress; counted against the budget")
    reserved_cost_usd: str = Field(description="USD as a decimal string, held by answers in progress")
    budget: BudgetOut


def spending_out(spent: Spending, cap: Cap, reserved: Spending) -> SpendingOut:
    tokens, cost = cap.remaining(spent + reserved)
    budget = BudgetOut(
        max_tokens=cap.max_tokens,
        max_cost_usd=_usd(cap.max_cost_usd),
        remaining_tokens=tokens,
        remaining_cost_usd=_usd(cost),
    )
    return SpendingOut(
        tokens=spent.tokens,
        cost_usd=str(spent.cost_usd),
        unpriced_answers=spent.unpriced_answers,
        reserved_tokens=reserved.tokens,
        reserved_cost_usd=str(reserved.cost_usd),
        budget=budget,
    )


class UsageOut(BaseModel):
    period_start: datetime = Field(description="The budgets run per calendar month (UTC) from here")
    user: SpendingOut
    organization: SpendingOut
    models_allowed: bool = Field(description="false: a budget is spent, answers are extracted")
    reason: str | None


@router.get("/usage", response_model=UsageOut, summary="The caller's model usage this month and what is left")
def my_usage(principal: PrincipalDep, budgets: BudgetServiceDep, uow: ReadOnlyDep) -> UsageOut:
    """The caller's model usage this calendar month (UTC), their organisation's, the budgets that apply and
    what remains after what answers in progress have reserved; `models_allowed` is false once one is
    spent."""
    status = budgets.status(uow, principal)
    return UsageOut(
        period_start=status.period_start,
        user=spending_out(status.user_spent, status.user_cap, status.user_reserved),
        organization=spending_out(status.org_spent, status.org_cap, status.org_reserved),
        models_allowed=status.reason is None,
        reason=status.reason,
    )
