"""Citation markers and snippets: markers never point outside the citations, snippets are chunk text."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.answer.citations import (
    MarkerRewriter,
    build_citations,
    claims,
    fallback_snippet,
    make_citation,
    marker_numbers,
    rewrite_markers,
    snippet_in,
)
from docent.answer.extractive import best_snippet
from docent.answer.types import Passage, dump_citations, load_citations


def passage(text: str, chunk_id: int = 1, **overrides: object) -> Passage:
    values: dict[str, object] = {
        "chunk_id": chunk_id,
        "document_id": uuid.UUID(int=chunk_id),
        "title": f"Doc {chunk_id}",
        "version": 1,
        "page": 3,
        "section": ("Policies", "Leave"),
        "text": text,
        "score": 0.5,
    }
    values.update(overrides)
    return Passage(**values)  # type: ignore[arg-type]


def test_marker_numbers_in_order_of_first_use_with_lists_expanded() -> None:
    assert marker_numbers("A [2]. B [1, 3]. C [2][4].") == [2, 1, 3, 4]
    assert marker_numbers("no markers, [not] a marker, [1a] neither") == []


def test_markers_pointing_nowhere_are_dropped_with_their_space() -> None:
    text, used = rewrite_markers("Leave is 20 days [7]. It accrues monthly [0].", sources=3)

    assert text == "Leave is 20 days. It accrues monthly."
    assert used == ()


def test_markers_are_renumbered_in_order_of_first_use() -> None:
    text, used = rewrite_markers("First [3]. Second [1]. Again [3]. Both [1, 3, 9].", sources=3)

    assert text == "First [1]. Second [2]. Again [1]. Both [2][1]."
    assert used == (3, 1)


def test_brackets_that_are_not_markers_are_left_alone() -> None:
    text, used = rewrite_markers("See [Annex A] and x[i] and [ 1 ] and [1.5].", sources=5)

    assert text == "See [Annex A] and x[i] and [ 1 ] and [1.5]."
    assert used == ()


def test_the_rewriter_holds_back_only_what_may_become_a_marker() -> None:
    rewriter = MarkerRewriter(sources=2)

    assert rewriter.feed("Paris is the capital") == "Paris is the capital"
    assert rewriter.feed(" [") == ""
    assert rewriter.feed("2") == ""
    assert rewriter.feed("]. It is") == " [1]. It is"
    assert rewriter.feed(" [5") == ""
    assert rewriter.feed("] big") == " big"
    assert rewriter.flush() == ""
    assert rewriter.used == (2,)


def test_flush_releases_an_unfinished_bracket() -> None:
    rewriter = MarkerRewriter(sources=2)

    assert rewriter.feed("values [1, 2") == "values"
    assert rewriter.flush() == " [1, 2"


_PIECES = st.sampled_from(
    ["The", " fee", " is", " 5", ".", " ", "\n", "[", "]", ",", "1", "2", "3", "12", "x"]
)


@given(st.lists(_PIECES, max_size=60), st.integers(min_value=0, max_value=4), st.data())
def test_streaming_gives_the_same_text_however_the_reply_is_cut(
    pieces: list[str], sources: int, data: st.DataObject
) -> None:
    reply = "".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(min_value=0, max_value=len(reply)), max_size=10)))
    deltas = [reply[a:b] for a, b in zip([0, *cuts], [*cuts, len(reply)], strict=True)]

    rewriter = MarkerRewriter(sources)
    streamed = "".join(rewriter.feed(delta) for delta in deltas) + rewriter.flush()

    assert (streamed, rewriter.used) == rewrite_markers(reply, sources)


@given(st.lists(_PIECES, max_size=60), st.integers(min_value=0, max_value=4))
def test_a_marker_never_points_outside_the_citation_list(pieces: list[str], sources: int) -> None:
    passages = [passage(f"Chunk number {n}. It says something.", chunk_id=n) for n in range(1, sources + 1)]

    text, used = rewrite_markers("".join(pieces), sources)
    citations = build_citations(text, [passages[n - 1] for n in used], best_snippet)

    numbers = [citation.number for citation in citations]
    assert numbers == list(range(1, len(citations) + 1))
    assert set(marker_numbers(text)) == set(numbers)
    assert all(1 <= n <= sources for n in used)
    assert len(set(used)) == len(used)


@given(st.text(max_size=300), st.text(max_size=120))
def test_a_citation_snippet_is_always_text_of_its_chunk(chunk: str, snippet: str) -> None:
    cited = passage(chunk)

    citation = make_citation(1, cited, snippet)

    assert citation.snippet == "" or snippet_in(citation.snippet, chunk)
    if chunk.strip():
        assert citation.snippet


def test_snippets_match_across_line_breaks_but_not_across_words() -> None:
    chunk = "The annual leave\nentitlement is   twenty days."

    assert snippet_in("leave entitlement is twenty", chunk)
    assert not snippet_in("leave entitlement is thirty", chunk)
    assert not snippet_in("   ", chunk)


def test_an_invented_quote_is_replaced_by_the_chunk_opening() -> None:
    cited = passage("Employees get twenty days of leave. Carry-over is capped at five days.")

    citation = make_citation(1, cited, "Employees get forty days of leave.")

    assert citation.snippet == "Employees get twenty days of leave. Carry-over is capped at five days."


def test_fallback_snippet_cuts_long_chunks_at_a_word() -> None:
    text = "word " * 100

    snippet = fallback_snippet(text)

    assert len(snippet) <= 240
    assert snippet.endswith("word")
    assert snippet_in(snippet, text)


def test_citations_quote_the_chunk_sentence_closest_to_the_claim() -> None:
    first = passage("Leave is booked in the HR portal. Employees get twenty days of leave a year.", 1)
    second = passage("The office opens at 8am. Badges are issued by reception.", 2)
    answer = "You get twenty days a year [1]. Badges come from reception [2]."

    citations = build_citations(answer, [first, second], best_snippet)

    assert [c.snippet for c in citations] == [
        "Employees get twenty days of leave a year.",
        "Badges are issued by reception.",
    ]
    one = citations[0]
    assert (one.number, one.chunk_id, one.title, one.version, one.page, one.section, one.score) == (
        1,
        1,
        "Doc 1",
        1,
        3,
        ("Policies", "Leave"),
        0.5,
    )
    (shown,) = dump_citations([one])
    assert shown["document_id"] == str(uuid.UUID(int=1))
    assert shown["section"] == ["Policies", "Leave"]
    assert load_citations([shown]) == (one,)
    assert one.label() == "[1] Doc 1 (page 3, Policies > Leave)"
    assert one.label(with_version=True) == "[1] Doc 1 (v1, page 3, Policies > Leave)"


def test_a_marker_after_the_full_stop_belongs_to_the_sentence_before() -> None:
    assert claims("Leave is twenty days. [1] Badges come from reception.[2]") == {
        1: "Leave is twenty days.",
        2: "Badges come from reception.",
    }


def test_build_citations_refuses_markers_without_a_passage() -> None:
    with pytest.raises(ValueError, match=r"\[2\]"):
        build_citations("A [1]. B [2].", [passage("A.")], best_snippet)
