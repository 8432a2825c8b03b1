"""What an answer cost: pure. Prices are USD per million tokens, prompt and completion apart, read from a
setting such as `gpt-4o-mini=0.15/0.60,llama3=0/0`.

Money is `Decimal` throughout: summed over many answers, binary floats drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from docent.llm.chat import Usage

_MILLION = Decimal(1_000_000)
_ENTRY = re.compile(
    r"\s*(?P<model>[^=,\s][^=,]*?)\s*=\s*(?P<prompt>[^/,\s]+)\s*/\s*(?P<completion>[^/,\s]+)\s*"
)


@dataclass(frozen=True)
class Spending:
    """Tokens and their cost in USD: what answers spent or hold in reserve, or the most one answer may
    spend. A model with no price adds its tokens and no cost, and counts in `unpriced_answers`."""

    tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    unpriced_answers: int = 0

    @classmethod
    def at_most(cls, prices: Mapping[str, Price], provider: str, model: str, usage: Usage) -> Spending:
        """The bound of an answer whose usage is at most `usage` (an unpriced model's tokens cost none)."""
        return cls(usage.total_tokens, cost_of(prices, provider, model, usage) or Decimal(0))

    def __add__(self, other: Spending) -> Spending:
        return Spending(
            self.tokens + other.tokens,
            self.cost_usd + other.cost_usd,
            self.unpriced_answers + other.unpriced_answers,
        )

    def most(self, other: Spending) -> Spending:
        """Each bound the larger of the two: whichever of two answerers answers, it spends no more."""
        return Spending(max(self.tokens, other.tokens), max(self.cost_usd, other.cost_usd))


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    prompt: Decimal
    completion: Decimal


def _amount(text: str, entry: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"price {text!r} in {entry!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"price {text!r} in {entry!r} must be a finite number, zero or more")
    return value


def parse_price_table(spec: str) -> dict[str, Price]:
    """`model=prompt/completion` entries separated by commas (spaces allowed; an empty setting gives an empty
    table). A model may be written `provider:model` to price one provider's model apart. Raises ValueError,
    naming the entry, for anything else."""
    table: dict[str, Price] = {}
    for entry in spec.split(","):
        if not entry.strip():
            continue
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ValueError(f"price entry {entry.strip()!r} is not of the form model=prompt/completion")
        model = match.group("model")
        if model in table:
            raise ValueError(f"model {model!r} is priced twice")
        table[model] = Price(_amount(match.group("prompt"), entry), _amount(match.group("completion"), entry))
    return table


def cost_of(prices: Mapping[str, Price], provider: str, model: str, usage: Usage) -> Decimal | None:
    """The cost in USD of `usage` on `model`, priced as `provider:model` if listed, else as `model`. No
    tokens cost nothing whatever the model; a model with no price has an unknown cost (None), not a zero
    one, so that a missing price shows up instead of passing for free."""
    if usage.total_tokens == 0:
        return Decimal(0)
    price = prices.get(f"{provider}:{model}") or prices.get(model)
    if price is None:
        return None
    return (usage.prompt_tokens * price.prompt + usage.completion_tokens * price.completion) / _MILLION
