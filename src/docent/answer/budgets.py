"""Budgets: what answers may spend on models in a calendar month (UTC), set by admins for the organisation
and for single members, and what is left of them.

A budget caps tokens, cost (USD), or both; once the organisation's or the member's is spent, no model is
asked for that member's answers until the month ends: the extractive answerer answers alone and says why
(`BudgetStatus.reason`). An answer whose model has no price counts its tokens but no cost (it is counted in
`unpriced_answers`, as in the usage report).

Budgets are reserved, not only checked: just before a model is asked, the answer reserves the most it may
spend (its `ceiling`: the prompt as counted and the longest reply, priced when the model has a price), in a
short write transaction that locks the budgets (`reserve`), so that answers running at once cannot together
spend past a cap. While it lives a reservation counts as spending of the member and of the organisation;
when it does not fit in what is left, the budget counts as spent for this answer. The transaction that keeps
the answer drops it (`release`), and its real usage counts instead; a reservation of a process that died
stops counting once it expires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from docent.answer.cost import Spending
from docent.auth.audit import RequestContext, record
from docent.auth.policy import Principal, ensure_admin
from docent.db.records import Budget, BudgetReservation
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode

_EXTRACTED = "this answer is quoted from the documents without a language model."
_ORG_SPENT = f"The organisation's model budget for this month is spent; {_EXTRACTED}"
_USER_SPENT = f"Your model budget for this month is spent; {_EXTRACTED}"


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _spent(rows: list[tuple[int, int, str | None]]) -> Spending:
    """What answers (prompt tokens, completion tokens, cost or None when unpriced) spent."""
    tokens = sum(prompt + completion for prompt, completion, _ in rows)
    cost = sum((Decimal(c) for _, _, c in rows if c is not None), Decimal(0))
    return Spending(tokens, cost, sum(1 for *_, c in rows if c is None))


def _held(rows: list[tuple[int, str]]) -> Spending:
    """What reservations (tokens, cost) hold."""
    return Spending(sum(t for t, _ in rows), sum((Decimal(c) for _, c in rows), Decimal(0)))


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

    def covers(self, spent: Spending, more: Spending) -> bool:
        """Whether `more` fits in what `spent` leaves."""
        tokens, cost = self.remaining(spent)
        return (tokens is None or more.tokens <= tokens) and (cost is None or more.cost_usd <= cost)

    @property
    def capped(self) -> bool:
        return self.max_tokens is not None or self.max_cost_usd is not None


@dataclass(frozen=True)
class BudgetStatus:
    period_start: datetime
    user_spent: Spending
    user_cap: Cap
    org_spent: Spending
    org_cap: Cap
    user_reserved: Spending = field(default_factory=Spending)  # by the member's answers in progress
    org_reserved: Spending = field(default_factory=Spending)  # by the organisation's answers in progress

    @property
    def capped(self) -> bool:
        return self.user_cap.capped or self.org_cap.capped

    @property
    def reason(self) -> str | None:
        """Why models are not asked, or None when they may be."""
        if self.org_cap.spent_by(self.org_spent + self.org_reserved):
            return _ORG_SPENT
        if self.user_cap.spent_by(self.user_spent + self.user_reserved):
            return _USER_SPENT
        return None

    def refusal(self, ceiling: Spending) -> str | None:
        """Why an answer that may spend up to `ceiling` may not ask a model, or None when it may: what is
        left of a budget, after what is spent and reserved, does not cover it."""
        if not self.org_cap.covers(self.org_spent + self.org_reserved, ceiling):
            return _ORG_SPENT
        if not self.user_cap.covers(self.user_spent + self.user_reserved, ceiling):
            return _USER_SPENT
        return None


@dataclass(frozen=True)
class Reservation:
    """The outcome of `BudgetService.reserve`: the reservation to release when the answer is kept (None when
    nothing was held: no budget applies, or none may be), and why no model may be asked (None: it may)."""

    id: uuid.UUID | None = None
    withheld: str | None = None


class BudgetService:
    """`reservation_seconds`: how long a reservation counts unless released, which should outlast any
    answer (the container derives it from the providers' timeouts)."""

    def __init__(self, clock: type[datetime] = datetime, reservation_seconds: float = 90.0) -> None:
        self._clock = clock
        self._lifetime = timedelta(seconds=reservation_seconds)

    def status(self, uow: UnitOfWork, principal: Principal) -> BudgetStatus:
        now = self._clock.now(UTC)
        start = month_start(now)
        org, user = principal.org_id, principal.user_id
        return BudgetStatus(
            period_start=start,
            user_spent=_spent(uow.budgets.spent_since(org, user, start)),
            user_cap=Cap.of(uow.budgets.get(org, user)),
            org_spent=_spent(uow.budgets.spent_since(org, None, start)),
            org_cap=Cap.of(uow.budgets.get(org, None)),
            user_reserved=_held(uow.budgets.reserved(org, user, now)),
            org_reserved=_held(uow.budgets.reserved(org, None, now)),
        )

    def reserve(self, uow: UnitOfWork, principal: Principal, ceiling: Spending) -> Reservation:
        """Hold `ceiling` (what an answer may spend at most) against the member's and the organisation's
        budgets, or say why no model may be asked. Locks the budgets until `uow` ends: the caller commits at
        once, before any model is asked. Reservations that expired are dropped on the way."""
        if ceiling.tokens == 0 and ceiling.cost_usd == 0:
            return Reservation()
        org, user = principal.org_id, principal.user_id
        if not uow.budgets.lock(org, user):
            return Reservation()  # no budget applies: nothing to hold
        now = self._clock.now(UTC)
        uow.budgets.drop_expired(org, now)
        status = self.status(uow, principal)
        if not status.capped:
            return Reservation()  # every cap was lifted
        withheld = status.refusal(ceiling)
        if withheld is not None:
            return Reservation(withheld=withheld)
        reservation = BudgetReservation(
            id=uuid.uuid4(),
            org_id=org,
            user_id=user,
            tokens=ceiling.tokens,
            cost_usd=str(ceiling.cost_usd),
            created_at=now,
            expires_at=now + self._lifetime,
        )
        uow.budgets.add_reservation(reservation)
        return Reservation(reservation.id)

    def release(self, uow: UnitOfWork, reservation_id: uuid.UUID) -> None:
        """Drop a reservation, in the transaction that records what the answer really used."""
        uow.budgets.drop_reservation(reservation_id)

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
