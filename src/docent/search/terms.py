"""Query terms: pure functions that turn what a user typed into keyword-search terms.

A keyword query is an OR of the query's words (an implicit AND would miss most relevant chunks of a
natural-language question), each quoted so that nothing the user types is read as FTS5 syntax (AND, OR,
NOT, NEAR, `*`, `^`, column filters, parentheses). Common English stop words are dropped, as the
published BM25 baselines do, unless the query has nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

# Lucene's English stop words (what Anserini's BM25 baselines use).
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "  # noqa: SIM905
    "they this to was will with".split()
)
# FTS5's unicode61 tokenizer: letters, numbers and private-use characters make tokens; all else separates.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 64


def query_words(query: str) -> list[str]:
    """Distinct lower-case words of the query, in order, stop words dropped unless nothing else is left."""
    words = list(dict.fromkeys(match.group().lower() for match in _WORD.finditer(query)))
    content = [word for word in words if word not in STOP_WORDS]
    return (content or words)[:MAX_TERMS]


def fts5_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's words, or None when it has none."""
    words = query_words(query)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")  # Snowball's Porter2


def _fold(word: str) -> str:
    """Diacritics removed, as FTS5's unicode61 tokenizer does ("café" and "cafe" are one word)."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def analyze(text: str) -> list[str]:
    """The terms a BM25 index keeps of a text, in order and repeated: lower-case words without diacritics,
    stop words dropped, stemmed (Porter2). Queries and chunks go through the same function."""
    words = [_fold(match.group()) for match in _WORD.finditer(text.lower())]
    return list(_stemmer().stemWords([word for word in words if word not in STOP_WORDS]))


_SUFFIXES = (
    "ational",
    "ations",
    "ation",
    "ments",
    "ment",
    "ings",
    "ing",
    "edly",
    "ies",
    "ed",
    "es",
    "ly",
    "s",
    "e",
)


def stem(word: str) -> str:
    """A light suffix-stripping stem, enough to mark "rotated" for the query word "rotate"."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word
