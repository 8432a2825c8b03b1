"""Query terms, FTS5 expressions and snippets: pure functions, checked against the real FTS5 parser too."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.search.snippet import MARK_CLOSE, MARK_OPEN, make_snippet
from docent.search.terms import WORD, analyze, fts5_expression, query_words, word_terms


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'porter unicode61')")
    connection.executemany(
        "INSERT INTO t(text) VALUES (?)",
        [
            ("Passwords must be rotated every 90 days.",),
            ("Ünïcödé café menus in 日本語 text.",),
            ("and or not",),
        ],
    )
    return connection


def test_words_are_lowercased_distinct_and_stop_words_go() -> None:
    assert query_words("How often must THE passwords be rotated, passwords?") == [
        "often",
        "must",
        "passwords",
        "rotated",
    ]
    assert query_words("to be or not to be") == ["to", "be", "or", "not"]  # nothing else: keep them
    assert query_words("") == [] and query_words("  ?!-- ") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rotated passwords", '"rotated" OR "passwords"'),
        ('say "hello" AND NOT goodbye', '"say" OR "hello" OR "goodbye"'),
        ("NEAR(a b) col:value prefix* ^start", '"near" OR "b" OR "col" OR "value" OR "prefix" OR "start"'),
        ("e-mail snake_case", '"e" OR "mail" OR "snake" OR "case"'),
        ("Café 日本語", '"café" OR "日本語"'),
        ("", None),
        ("+-*/()\"'", None),
    ],
)
def test_fts5_expression_quotes_every_word(query: str, expected: str | None) -> None:
    assert fts5_expression(query) == expected


def test_expressions_match_through_the_real_tokenizer(fts: sqlite3.Connection) -> None:
    def match(query: str) -> list[str]:
        expression = fts5_expression(query)
        assert expression is not None
        return [
            row[0] for row in fts.execute("SELECT text FROM t WHERE t MATCH ? ORDER BY rank", (expression,))
        ]

    assert match("rotate passwords") == ["Passwords must be rotated every 90 days."]  # porter stems
    assert match("unicode CAFE") == ["Ünïcödé café menus in 日本語 text."]  # unicode61 folds diacritics
    assert match("and or not") == ["and or not"]


@given(st.text(max_size=80))
def test_any_text_gives_a_valid_expression_or_none(text: str) -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'porter unicode61')")
    expression = fts5_expression(text)
    if expression is not None:
        connection.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()


def test_the_analyser_folds_drops_stop_words_and_stems_with_porter2() -> None:
    assert analyze("Rotated rotate ROTATES") == ["rotat"] * 3
    assert analyze("passwords password") == ["password"] * 2
    assert analyze("What are the policies? Policy, policing.") == ["polici", "polici", "polic"]
    assert analyze("Café, CAFE and naïve") == ["cafe", "cafe", "naiv"]
    assert analyze("İstanbul") == ["istanbul"]  # lower-cased word by word: no stray combining dot
    assert analyze("to be or not to be") == []


def test_snippet_marks_matching_words_with_their_variants() -> None:
    text = "Passwords must be rotated every 90 days and must contain at least 14 characters."
    snippet = make_snippet(text, "how often is a password rotated")
    assert (
        snippet
        == f"{MARK_OPEN}Passwords{MARK_CLOSE} must be {MARK_OPEN}rotated{MARK_CLOSE} every 90 days and "
        + ("must contain at least 14 characters.")
    )


def test_snippet_of_a_long_text_is_a_window_around_the_matches() -> None:
    text = " ".join(["filler"] * 100) + " the VPN client needs hardware tokens " + " ".join(["padding"] * 100)
    snippet = make_snippet(text, "vpn hardware tokens", max_chars=120)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert f"{MARK_OPEN}VPN{MARK_CLOSE}" in snippet and f"{MARK_OPEN}tokens{MARK_CLOSE}" in snippet
    assert len(snippet) <= 120 + 2 + 6 * len(MARK_OPEN + MARK_CLOSE)
    assert "fill" not in snippet.replace("filler", "") and "padd" not in snippet.replace("padding", "")


def test_snippet_without_matches_is_the_start_of_the_text() -> None:
    text = "word " * 200
    snippet = make_snippet(text, "absent", max_chars=50)
    assert snippet.startswith("word") and snippet.endswith("…") and MARK_OPEN not in snippet


_PLAIN = st.characters(blacklist_characters="«»…")


@given(st.text(_PLAIN, max_size=400), st.text(max_size=40))
def test_snippet_is_always_made_from_the_text(text: str, query: str) -> None:
    snippet = make_snippet(text, query, max_chars=100)
    plain = snippet.replace(MARK_OPEN, "").replace(MARK_CLOSE, "").strip("…")
    assert " ".join(plain.split()) in " ".join(text.split())


_SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact" / "corpus.jsonl"


def test_a_stem_keeps_its_word_s_first_letter_over_scifact_s_vocabulary() -> None:
    """What lets a snippet stem only the words starting like a query term."""
    assert _SCIFACT.is_file(), f"needs SciFact at {_SCIFACT} (../shared/data beside the repo)"
    words: set[str] = set()
    with _SCIFACT.open() as corpus:
        for line in corpus:
            document = json.loads(line)
            words.update(WORD.findall(f"{document['title']} {document['text']}"))
    words.update(["dying", "lying", "tying", "skies", "idly", "ugly", "Youth", "ies", "ing"])  # Porter2's own
    vocabulary = sorted(words)
    changed = [
        (word, term)
        for word, term in zip(vocabulary, word_terms(vocabulary), strict=True)
        if term is not None and word[0].isascii() and term[0] != word[0].lower()
    ]
    assert len(words) > 30_000 and changed == []


def _marked(snippet: str) -> list[str]:
    return re.findall(f"{MARK_OPEN}(.*?){MARK_CLOSE}", snippet)


@given(st.text(_PLAIN, max_size=300), st.text(max_size=40))
def test_a_snippet_marks_exactly_the_words_whose_term_the_query_has(text: str, query: str) -> None:
    wanted = set(analyze(query))
    words = WORD.findall(text)
    expected = [w for w, term in zip(words, word_terms(words), strict=True) if term in wanted]
    assert _marked(make_snippet(text, query, max_chars=10_000)) == expected


def test_words_outside_ascii_are_matched_by_their_folded_term() -> None:
    snippet = make_snippet("Études, ÉTUDE and étude; \u017ftudy is not", "etude")
    assert _marked(snippet) == ["Études", "ÉTUDE", "étude"]
