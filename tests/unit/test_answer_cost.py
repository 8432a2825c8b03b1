"""Price tables and the cost of an answer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.answer.cost import Price, cost_of, parse_price_table
from docent.llm.chat import Usage


def test_the_setting_is_parsed_into_prices_per_million_tokens() -> None:
    table = parse_price_table("gpt-4o-mini=0.15/0.60, llama3=0/0 ,meta-llama/Llama-3-8b = 0.05 / 0.1")

    assert table == {
        "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.60")),
        "llama3": Price(Decimal(0), Decimal(0)),
        "meta-llama/Llama-3-8b": Price(Decimal("0.05"), Decimal("0.1")),
    }


def test_provider_qualified_models_and_empty_settings() -> None:
    assert parse_price_table("openai:llama3:8b=1/2") == {"openai:llama3:8b": Price(Decimal(1), Decimal(2))}
    assert parse_price_table("") == {}
    assert parse_price_table(" , ") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-4o-mini", "model=prompt/completion"),
        ("gpt-4o-mini=0.15", "model=prompt/completion"),
        ("=0.1/0.2", "model=prompt/completion"),
        ("m=0.1/0.2/0.3", "model=prompt/completion"),
        ("m=abc/0.2", "not a number"),
        ("m=-1/0.2", "zero or more"),
        ("m=NaN/0.2", "zero or more"),
        ("m=1/2,m=3/4", "priced twice"),
    ],
)
def test_malformed_settings_are_refused_with_the_entry_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_price_table(spec)


def test_cost_is_tokens_times_price_per_million() -> None:
    prices = parse_price_table("gpt-4o-mini=0.15/0.60")

    cost = cost_of(prices, "openai", "gpt-4o-mini", Usage(prompt_tokens=2000, completion_tokens=500))

    assert cost == Decimal("0.0006")


def test_a_provider_qualified_price_wins_over_the_plain_one() -> None:
    prices = parse_price_table("llama3=1/1,groq:llama3=2/2")

    assert cost_of(prices, "groq", "llama3", Usage(1_000_000, 0)) == Decimal(2)
    assert cost_of(prices, "openai", "llama3", Usage(1_000_000, 0)) == Decimal(1)


def test_unknown_models_cost_unknown_and_no_tokens_cost_nothing() -> None:
    assert cost_of({}, "openai", "mystery", Usage(10, 10)) is None
    assert cost_of({}, "extractive", "sentences", Usage()) == Decimal(0)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=0, max_value=1000, places=4),
    st.decimals(min_value=0, max_value=1000, places=4),
)
def test_cost_is_exact_and_never_negative(prompt: int, completion: int, p: Decimal, c: Decimal) -> None:
    cost = cost_of({"m": Price(p, c)}, "x", "m", Usage(prompt, completion))

    assert cost is not None
    assert cost >= 0
    assert cost * 1_000_000 == prompt * p + completion * c
