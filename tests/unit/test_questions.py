"""Long chat-client prompts become a question that fits, cut at a boundary, never refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from docent.answer.questions import cut_question


def test_a_question_that_fits_is_kept_whole() -> None:
    assert cut_question("  What is the leave policy?  ", 2000) == "What is the leave policy?"


def test_a_long_prompt_keeps_the_whole_paragraphs_at_its_end_that_fit() -> None:
    pasted = "Context sentence number one. " * 100
    prompt = f"{pasted}\n\nSome detail.\n\nGiven the above, what does the policy say about parental leave?"
    assert cut_question(prompt, 200) == (
        "Some detail.\n\nGiven the above, what does the policy say about parental leave?"
    )
    assert cut_question(prompt, 70) == "Given the above, what does the policy say about parental leave?"


def test_without_paragraphs_the_cut_falls_on_a_sentence_then_a_word() -> None:
    sentences = "The policy covers many cases. " * 100 + "How long is parental leave?"
    assert cut_question(sentences, 100).startswith("The policy") or cut_question(sentences, 100).startswith(
        "How"
    )
    words = "alpha " * 500 + "omega"
    cut = cut_question(words, 101)
    assert cut.endswith("omega") and cut.split()[0] == "alpha"


@given(st.text(min_size=0, max_size=5000), st.integers(10, 3000))
def test_the_cut_fits_and_is_a_tail_of_the_text(text: str, limit: int) -> None:
    cut = cut_question(text, limit)
    assert len(cut) <= limit
    assert cut in text
    if text.strip():
        assert cut or len(text.strip()) > limit
