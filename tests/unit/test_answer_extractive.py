"""The extractive answerer: sentence splitting, scoring, short cited answers, abstention, streaming."""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator, Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.answer.citations import marker_numbers, snippet_in
from docent.answer.extractive import (
    ExtractiveAnswerer,
    best_snippet,
    heading_lines,
    score_sentences,
    split_sentences,
    with_marker,
)
from docent.answer.types import NOT_COVERED, Answer, AnswerRequest, Passage, Turn
from docent.llm.local_embedder import LocalEmbedder


def passage(text: str, chunk_id: int = 1, score: float = 1.0) -> Passage:
    return Passage(chunk_id, uuid.UUID(int=chunk_id), f"Doc {chunk_id}", 1, 2, ("Intro",), text, score)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def drain(stream: Generator[str, None, Answer]) -> tuple[list[str], Answer]:
    deltas: list[str] = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as stop:
            return deltas, stop.value


# ---------- sentences ----------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Dr. Smith went to Washington. He arrived at 3.30 on Monday. Then he left!",
            ["Dr. Smith went to Washington.", "He arrived at 3.30 on Monday.", "Then he left!"],
        ),
        (
            "The U.S. Army won. John F. Kennedy was president in 1961. Pi is 3.14. Is it? Yes.",
            ["The U.S. Army won.", "John F. Kennedy was president in 1961.", "Pi is 3.14.", "Is it?", "Yes."],
        ),
        (
            "Prices rose (c. 1000 AD). See Fig. 3 and e.g. Table 2. Done.",
            ["Prices rose (c. 1000 AD).", "See Fig. 3 and e.g. Table 2.", "Done."],
        ),
        (
            '"Stop." She left. (It was late.) Next day.',
            ['"Stop."', "She left.", "(It was late.)", "Next day."],
        ),
        (
            "Leave policy\n\n- Twenty days a year\n- Five carry over\nat most.",
            ["Leave policy", "- Twenty days a year", "- Five carry over\nat most."],
        ),
        ("A line wrapped\nby a PDF. Next one.", ["A line wrapped\nby a PDF.", "Next one."]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_sentences_respect_abbreviations_decimals_and_initials(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@given(st.text(alphabet=st.sampled_from(list('ab .!?\n3Dr.U.S"()')), max_size=120))
def test_sentence_spans_are_ordered_disjoint_and_trimmed(text: str) -> None:
    spans = split_sentences(text)

    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        assert not text[start].isspace() and not text[end - 1].isspace()
        previous_end = end
    # Sentences are cut only at whitespace, and only lone characters are too short to be one: so every run
    # of two or more non-space characters lies inside a sentence.
    for run in re.finditer(r"\S{2,}", text):
        assert any(start <= run.start() and run.end() <= end for start, end in spans)


def test_sentences_are_compared_by_the_keyword_index_terms() -> None:
    # "running" meets "runs" (Porter2) and "café" meets "cafe"; the old light stemmer missed both.
    assert best_snippet("Nothing here. He runs daily.", "Who is running?") == "He runs daily."
    assert best_snippet("Tea is served. The cafe opens at nine.", "When does the café open?") == (
        "The cafe opens at nine."
    )


def test_with_marker_goes_before_the_final_punctuation() -> None:
    assert with_marker("It was signed in 1957.", 1) == "It was signed in 1957 [1]."
    assert with_marker('He said "no."', 2) == 'He said "no [2]."'
    assert with_marker("A heading", 3) == "A heading [3]"


# ---------- answering ----------

NORMANS = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
    "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway. Their "
    "leader Rollo agreed to swear fealty to King Charles III of West Francia. The distinct cultural and "
    "ethnic identity of the Normans emerged initially in the first half of the 10th century."
)
LEAVE = (
    "Annual leave is booked in the HR portal. Every employee gets twenty-five days of annual leave per "
    "year. Unused days expire at the end of March."
)


def test_the_answer_quotes_the_sentence_holding_the_answer_with_its_citation() -> None:
    answerer = ExtractiveAnswerer()
    request = AnswerRequest("Who was the leader who swore fealty to King Charles III?", (passage(NORMANS),))

    answer = answerer.answer(request)

    assert answer.text.startswith(
        "Their leader Rollo agreed to swear fealty to King Charles III of West Francia [1]."
    )
    assert marker_numbers(answer.text) == [c.number for c in answer.citations]
    first = answer.citations[0]
    assert first.snippet == "Their leader Rollo agreed to swear fealty to King Charles III of West Francia."
    assert snippet_in(first.snippet, NORMANS)
    assert (first.chunk_id, first.title, first.page, first.section) == (1, "Doc 1", 2, ("Intro",))
    assert (answer.provider, answer.abstained, answer.usage.total_tokens) == ("extractive", False, 0)


def test_the_best_chunk_is_chosen_among_several() -> None:
    answerer = ExtractiveAnswerer(max_sentences=1)
    request = AnswerRequest(
        "How many days of annual leave does an employee get per year?",
        (passage(NORMANS, 1, score=0.9), passage(LEAVE, 2, score=0.8)),
    )

    answer = answerer.answer(request)

    assert answer.text == "Every employee gets twenty-five days of annual leave per year [1]."
    assert [c.chunk_id for c in answer.citations] == [2]


def test_a_second_close_sentence_is_added_in_reading_order_with_its_chunks_one_marker() -> None:
    text = "The fee for a permit is 40 euros. The sky is blue. A permit fee is waived for students."
    answerer = ExtractiveAnswerer(second_ratio=0.5)

    answer = answerer.answer(AnswerRequest("What is the permit fee?", (passage(text),)))

    assert answer.text == "The fee for a permit is 40 euros [1]. A permit fee is waived for students [1]."
    assert [c.snippet for c in answer.citations] == [text]


def test_a_heading_is_never_glued_to_the_sentence_below_it() -> None:
    for text in (
        "Passwords\nPasswords must be rotated every 90 days.",
        "Passwords\n\nPasswords must be rotated every 90 days.",
        "# Passwords\nPasswords must be rotated every 90 days.",
    ):
        answer = ExtractiveAnswerer(second_ratio=0.1).answer(
            AnswerRequest("How often must passwords be rotated?", (passage(text),))
        )
        assert answer.text == "Passwords must be rotated every 90 days [1].", text
        assert answer.citations[0].snippet == "Passwords must be rotated every 90 days."


def test_a_sentence_broken_over_lines_stays_one_sentence() -> None:
    text = "Hotel Costs in North America\nThe cap is 200 USD per night\nin North America, taxes included."

    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Hotel Costs in North America",
        "The cap is 200 USD per night\nin North America, taxes included.",
    ]
    assert heading_lines(text) == [(0, 28)]


def test_sentences_of_two_chunks_read_chunk_by_chunk_each_chunk_cited_once() -> None:
    first = passage("The permit fee is 40 euros. Students pay no permit fee at all.", 1)
    second = passage("A permit fee for visitors is 60 euros.", 2)
    answerer = ExtractiveAnswerer(second_ratio=0.1, max_sentences=3)

    answer = answerer.answer(AnswerRequest("What is the permit fee?", (first, second)))

    markers = re.findall(r"\[(\d)\]", answer.text)
    assert sorted(set(markers)) == ["1", "2"] and len(answer.citations) == 2
    assert [c.number for c in answer.citations] == [1, 2]
    assert len({c.chunk_id for c in answer.citations}) == 2
    assert markers == sorted(markers)  # all sentences of [1] before those of [2]
    assert answer.text.index("40 euros") < answer.text.index("no permit fee")  # a chunk's own order


def test_the_same_sentence_in_overlapping_chunks_is_said_once() -> None:
    text = "The permit fee is 40 euros. Other things happen."
    answerer = ExtractiveAnswerer(second_ratio=0.1)

    answer = answerer.answer(AnswerRequest("What is the permit fee?", (passage(text, 1), passage(text, 2))))

    assert answer.text.count("The permit fee is 40 euros") == 1


def test_it_abstains_when_nothing_is_relevant_enough() -> None:
    answerer = ExtractiveAnswerer(min_score=0.3)

    answer = answerer.answer(AnswerRequest("What is the boiling point of mercury?", (passage(LEAVE),)))
    empty = answerer.answer(AnswerRequest("Anything?", ()))

    for result in (answer, empty):
        assert result.text == NOT_COVERED
        assert result.citations == ()
        assert result.abstained


def test_the_threshold_is_a_parameter() -> None:
    question = AnswerRequest("When do unused days expire?", (passage(LEAVE),))
    best = score_sentences(question.question, question.passages)[0].score

    assert not ExtractiveAnswerer(min_score=best).answer(question).abstained
    assert ExtractiveAnswerer(min_score=best + 0.01).answer(question).abstained


def test_scores_are_in_unit_range_best_first_and_weigh_retrieval() -> None:
    scored = score_sentences("annual leave days", [passage(LEAVE, 1, 0.2), passage(LEAVE, 2, 0.8)])

    assert all(0.0 <= s.score <= 1.0 for s in scored)
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    assert scored[0].passage == 1  # the same sentence, in the better-ranked chunk


def test_streaming_yields_the_answer_word_by_word_and_returns_it() -> None:
    answerer = ExtractiveAnswerer()
    request = AnswerRequest("When do unused days expire?", (passage(LEAVE),))

    deltas, answer = drain(answerer.stream(request))

    assert len(deltas) > 3
    assert "".join(deltas) == answer.text
    assert answer == answerer.answer(request)


def test_best_snippet_picks_the_sentence_sharing_most_with_the_claim() -> None:
    assert (
        best_snippet(LEAVE, "Unused leave days expire in March") == "Unused days expire at the end of March."
    )
    assert best_snippet("   ", "anything") == ""


def test_rewrite_keeps_the_follow_ups_words_and_borrows_the_earlier_ones_it_lacks() -> None:
    history = [Turn("user", "What is the annual leave policy?"), Turn("assistant", "25 days [1].")]

    rewritten = ExtractiveAnswerer().rewrite("When does it expire?", history)

    assert rewritten == "When does it expire? (annual leave policy)"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ExtractiveAnswerer(max_sentences=0)


# ---------- with the real local embedding model ----------


@pytest.fixture(scope="module")
def local() -> Iterator[LocalEmbedder]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield LocalEmbedder(threads=2)


def test_an_embedder_finds_the_answer_when_no_word_is_shared(local: LocalEmbedder) -> None:
    text = "The office is located in Paris. The chief executive's salary is two million dollars a year."
    request = AnswerRequest("How much does the CEO earn?", (passage(text),))

    without = ExtractiveAnswerer(min_score=0.3).answer(request)
    with_model = ExtractiveAnswerer(local, min_score=0.3, max_sentences=1).answer(request)

    assert without.abstained
    assert with_model.text == "The chief executive's salary is two million dollars a year [1]."
    assert with_model.model == "sentences+local:all-MiniLM-L6-v2"


def test_the_documents_own_bracketed_numbers_do_not_become_markers() -> None:
    text = "The Normans conquered England in 1066.[3] Their duke was William.[12][13]"

    answer = ExtractiveAnswerer(max_sentences=1).answer(
        AnswerRequest("When did the Normans conquer England?", (passage(text),))
    )

    assert answer.text == "The Normans conquered England in 1066 [1]."
    assert marker_numbers(answer.text) == [1]
    assert answer.citations[0].snippet == "The Normans conquered England in 1066.[3]"


@given(st.text(alphabet=st.sampled_from(list("ab [1]2.,\n")), max_size=200), st.text(max_size=30))
def test_extractive_markers_always_match_the_citations(text: str, question: str) -> None:
    answer = ExtractiveAnswerer(min_score=0.0).answer(AnswerRequest(question + " a b", (passage(text),)))

    assert marker_numbers(answer.text) == [c.number for c in answer.citations]
    assert all(snippet_in(c.snippet, text) for c in answer.citations)


class CountingEmbedder:
    """Unit vectors from a hash of the text; records every batch it is asked to embed."""

    model_id = "counting"
    dimension = 8

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        vectors = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts])
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_an_extractive_answer_asked_again_embeds_only_the_question() -> None:
    counting = CountingEmbedder()
    answerer = ExtractiveAnswerer(counting)  # type: ignore[arg-type]
    passages = (
        Passage(
            1, uuid.UUID(int=1), "Leave", 1, None, (), "Parents get sixteen weeks of leave. It is paid.", 0.9
        ),
    )
    answerer.answer(AnswerRequest("How long is parental leave?", passages))
    answerer.answer(AnswerRequest("How many weeks do parents get?", passages))
    assert counting.batches == [
        ["How long is parental leave?", "Parents get sixteen weeks of leave.", "It is paid."],
        ["How many weeks do parents get?"],
    ]


def test_sentence_support_asks_one_sentence_to_hold_the_questions_rare_words() -> None:
    def passage(n: int, text: str) -> Passage:
        return Passage(n, uuid.UUID(int=n), "Leave", 1, None, (), text, 0.9)

    found = (passage(1, "Parents get sixteen weeks of parental leave. It is paid."), passage(2, "Ask HR."))
    answerer = ExtractiveAnswerer()  # no embedder: half the share of the question's term weight

    assert answerer.sentence_support("How many weeks of parental leave do parents get?", found) == 0.5
    # Only "weeks" is said; "sabbatical" and "engineers" are in no sentence, so they weigh most.
    partly = answerer.sentence_support("How many weeks of sabbatical do engineers get?", found)
    assert partly == pytest.approx(0.5 * 0.916 / (0.916 + 2 * 1.386), abs=1e-3)
    # Sentences beyond the first three passages are not read.
    later = (*[passage(n, "Ask HR.") for n in range(1, 4)], found[0])
    assert answerer.sentence_support("How many weeks of parental leave do parents get?", later) == 0.0


def in_section(text: str, *section: str) -> Passage:
    return Passage(1, uuid.UUID(int=1), "Handbook", 1, None, section, text, 0.9)


def test_the_heading_a_chunk_opens_with_is_not_glued_to_its_first_sentence() -> None:
    # Chunk text has its line breaks made spaces: "# Passwords\n\nPasswords must…" arrives like this.
    text = "Passwords Passwords must be rotated every 90 days. They must have 12 characters."
    answer = ExtractiveAnswerer().answer(
        AnswerRequest("How often must passwords be rotated?", (in_section(text, "Security", "Passwords"),))
    )
    assert answer.text.startswith("Passwords must be rotated every 90 days [1].")


def test_a_section_name_that_begins_the_sentence_itself_is_kept() -> None:
    text = "Passwords must be rotated every 90 days."
    answer = ExtractiveAnswerer().answer(
        AnswerRequest("How often must passwords be rotated?", (in_section(text, "Passwords"),))
    )
    assert answer.text == "Passwords must be rotated every 90 days [1]."


def test_a_follow_up_is_not_answered_with_the_sentence_just_quoted() -> None:
    text = (
        "Expense claims must be submitted within 30 days of the purchase through the finance portal. "
        "Claims older than 90 days are not reimbursed at all."
    )
    said = "Expense claims must be submitted within 30 days of the purchase through the finance portal [1]."
    question = "What if the claim is older than that? (submit expense)"
    alone = ExtractiveAnswerer().answer(AnswerRequest(question, (in_section(text),)))
    assert alone.text.startswith("Expense claims must be submitted")  # what the rewritten words alone pick
    history = (Turn("user", "How long do I have to submit an expense claim?"), Turn("assistant", said))
    answer = ExtractiveAnswerer().answer(AnswerRequest(question, (in_section(text),), history))
    assert answer.text == "Claims older than 90 days are not reimbursed at all [1]."
