"""Follow-ups made standalone without a model: the follow-up's own words stay, the earlier question lends
only what is missing."""

from __future__ import annotations

from docent.answer.followup import standalone_query
from docent.answer.types import Turn

CLAIMS = [
    Turn("user", "How long do I have to submit an expense claim?"),
    Turn("assistant", "Expense claims must be submitted within 30 days [1]."),
]
HOTELS = [Turn("user", "What is the hotel cap in North America?"), Turn("assistant", "200 USD a night [1].")]


def test_the_follow_up_keeps_its_words_and_borrows_the_missing_ones() -> None:
    rewritten = standalone_query("And what if the claim is older than that?", CLAIMS)

    assert rewritten == "What if the claim is older than that? (submit expense)"


def test_a_standalone_question_is_left_alone() -> None:
    assert standalone_query("Who approves expenses above 500 euros?", CLAIMS) == (
        "Who approves expenses above 500 euros?"
    )
    assert standalone_query("Does it apply to contractors?", []) == "Does it apply to contractors?"


def test_a_new_name_replaces_the_earlier_one() -> None:
    assert standalone_query("What about Canada?", HOTELS) == "What about Canada? (hotel cap)"
    assert standalone_query("Is breakfast included in it?", HOTELS) == (
        "Is breakfast included in it? (hotel cap North America)"
    )


def test_a_chain_of_follow_ups_carries_the_latest_subject() -> None:
    history = [*HOTELS, Turn("user", "What about Europe?"), Turn("assistant", "150 EUR [1].")]

    assert standalone_query("And is breakfast included there?", history) == (
        "Is breakfast included there? (Europe hotel cap)"
    )


def test_a_new_name_beside_a_pointer_back_keeps_the_earlier_subject() -> None:
    history = [Turn("user", "What is the hotel cap in North America?"), Turn("assistant", "200 USD [1].")]

    # "it" still means the North American cap: Canada is a detail of it, not a replacement.
    assert standalone_query("Does it apply in Canada?", history) == (
        "Does it apply in Canada? (hotel cap North America)"
    )
    assert standalone_query("And was it raised in 2024?", history) == (
        "Was it raised in 2024? (hotel cap North America)"
    )
