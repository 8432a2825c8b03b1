"""The guard on model answers: special tokens, empty replies, loops and answers citing nothing never reach
the reader; the chain falls through to the next answerer (here the extractive one)."""

from __future__ import annotations

import pytest

from docent.answer.guard import AnswerGuard, UnusableAnswer, loops, special_token
from docent.answer.types import NOT_COVERED
from tests.unit.test_answer_chain import ScriptedChat, ask, chain, run, text_of


@pytest.mark.parametrize(
    "token",
    [
        "<|im_end|>",
        "<|eot_id|>",
        "<|endoftext|>",
        "</s>",
        "[INST]",
        "<end_of_turn>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
    ],
)
def test_special_tokens_are_found(token: str) -> None:
    assert special_token(f"Paris is the capital [1].{token}") == token


@pytest.mark.parametrize(
    "text", ["x < 5 and y > 3 [1].", "Use <b>bold</b> [1].", "See [1], [2] and [INSTALL]."]
)
def test_ordinary_text_holds_no_special_token(text: str) -> None:
    assert special_token(text) is None


def test_a_token_split_over_deltas_is_caught_before_any_of_it_is_sent() -> None:
    guard = AnswerGuard(lag=0)
    assert guard.feed("Paris [1]. <|im", cited=True) == "Paris [1]. "
    with pytest.raises(UnusableAnswer, match="special token"):
        guard.feed("_end|>", cited=True)


def test_loops_are_found_and_ordinary_repetition_is_not() -> None:
    assert loops("The answer is here [1]. " + "I am sorry, I cannot. " * 3)
    assert loops("Paris [1]. " + "the the the the the the the the the the the the the the the the")
    assert not loops("Very, very, very good [1].")
    assert not loops("Parents get 16 weeks [1]. Parents who adopt get 16 weeks too [2].")


def test_nothing_is_sent_before_a_valid_citation_and_the_tail_is_held_back() -> None:
    guard = AnswerGuard(lag=10)
    assert guard.feed("Paris is the capital", cited=False) == ""
    released = guard.feed(" [1]. It is big.", cited=True)
    assert released and "Paris is the capital [1]. It is big.".startswith(released)
    assert released + guard.finish(cited=True) == "Paris is the capital [1]. It is big."


def test_an_answer_citing_nothing_is_unusable_unless_it_abstains() -> None:
    guard = AnswerGuard()
    guard.feed("Paris is the capital.", cited=False)
    with pytest.raises(UnusableAnswer, match="cites none"):
        guard.finish(cited=False)
    abstaining = AnswerGuard()
    abstaining.feed(NOT_COVERED, cited=False)
    assert abstaining.finish(cited=False) == NOT_COVERED


def test_an_empty_answer_is_unusable() -> None:
    guard = AnswerGuard()
    guard.feed(" \n ", cited=False)
    with pytest.raises(UnusableAnswer, match="empty"):
        guard.finish(cited=False)


GARBAGE = {
    "special tokens": ["Paris is the capital [1].", "<|im_end|>", "<|im_start|>user\nThanks"],
    "empty": ["", " "],
    "a loop": ["Paris [1]. ", *["I repeat myself forever and ever. "] * 6],
    "invalid citations only": ["Paris is the capital [7]. It is old [9]."],
}


@pytest.mark.parametrize("streaming", [True, False])
def test_an_answer_in_its_own_words_without_markers_is_shown(streaming: bool) -> None:
    """Only made-up sources fail a reply: one that marks none of the passages is the model's answer."""
    providers = chain(ScriptedChat("plain", ["Paris is the capital ", "of France."]))
    if streaming:
        events, answer = run(providers.stream(ask()))
        assert answer is not None and text_of(events) == answer.text
    else:
        answer = providers.answer(ask())
    assert answer.provider == "fake" and answer.text == "Paris is the capital of France."


@pytest.mark.parametrize("script", GARBAGE.values(), ids=GARBAGE.keys())
@pytest.mark.parametrize("streaming", [True, False])
def test_garbage_falls_through_to_the_next_answerer_and_is_never_shown(
    script: list[str], streaming: bool
) -> None:
    garbage = ScriptedChat("base", script)
    providers = chain(garbage)

    if streaming:
        events, answer = run(providers.stream(ask()))
        assert answer is not None and text_of(events) == answer.text
    else:
        answer = providers.answer(ask())

    assert answer.provider == "extractive"
    assert answer.failures and answer.failures[0].startswith("fake:base")
    assert "Paris is the capital of France [1]." in answer.text
    assert "<|" not in answer.text and "repeat" not in answer.text
    assert providers.resting() == []  # a bad reply to one question does not rest the provider
