"""The usage report: answers, tokens and cost summed in total and by user, model and day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from docent.db.records import ChatMessage


@dataclass
class UsageSum:
    """Sums over answers. `cost_usd` is None once any answer's cost is unknown (no price for its model):
    a missing price must not pass for free; `unpriced` counts those answers."""

    answers: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = Decimal(0)
    unpriced: int = 0

    def add(self, message: ChatMessage) -> None:
        self.answers += 1
        self.prompt_tokens += message.prompt_tokens
        self.completion_tokens += message.completion_tokens
        if message.cost_usd is None:
            self.unpriced += 1
            self.cost_usd = None
        elif self.cost_usd is not None:
            self.cost_usd += Decimal(message.cost_usd)

    def as_dict(self) -> dict[str, object]:
        return {
            "answers": self.answers,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
            "unpriced_answers": self.unpriced,
        }


@dataclass
class UsageReport:
    total: UsageSum = field(default_factory=UsageSum)
    by_user: dict[str, UsageSum] = field(default_factory=dict)
    by_model: dict[str, UsageSum] = field(default_factory=dict)
    by_day: dict[str, UsageSum] = field(default_factory=dict)

    @classmethod
    def of(cls, answers: Iterable[tuple[ChatMessage, str]]) -> UsageReport:
        """Sums over (assistant message, asker's email) pairs."""
        report = cls()
        for message, email in answers:
            keys = (email, f"{message.provider}:{message.model}", message.created_at.date().isoformat())
            for sums, key in zip((report.by_user, report.by_model, report.by_day), keys, strict=True):
                sums.setdefault(key, UsageSum()).add(message)
            report.total.add(message)
        return report
