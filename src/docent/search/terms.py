"""The analyser: one way to turn text into terms, for the in-memory BM25 index (chunks and queries alike),
the snippets that mark a result's matching words, and the extractive answerer's word overlap. Pure.

A term is a word (letters and digits; FTS5's unicode61 tokenizer cuts words the same way), lower-cased,
without diacritics ("café" is "cafe"), not a stop word, stemmed by Snowball's English stemmer (Porter2):
"policies" and "policy" are `polici`, "policing" and "police" are `polic`, "running" and "runs" are `run`.
The stop words are Snowball's English list, the one PostgreSQL's `english` configuration drops too.

The two keyword indexes that live in SQL make their terms themselves and are the exceptions:

* FTS5 (`DOCENT_KEYWORD_INDEX=fts5`, the low-memory option) stems with Porter's first algorithm inside
  SQLite and keeps stop words ("policies" is `polici` but "policing" is `polic`, as here, while "generous"
  is `gener` there and `generous` here), so its snippets may mark a word it matched otherwise;
* PostgreSQL's `english` tsvector stems with the same Porter2 and drops the same stop words, but keeps
  diacritics: there "café" does not match "cafe", though the snippet marks both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# Snowball's English stop words (PostgreSQL's `english.stop`): function words that say nothing about what
# a text is about, questions' "what", "how" and "when" among them.
STOP_WORDS = frozenset(
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her "  # noqa: SIM905
    "hers herself it its itself they them their theirs themselves what which who whom this that these those "
    "am is are was were be been being have has had having do does did doing a an the and but if or because "
    "as until while of at by for with about against between into through during before after above below "
    "to from up down in out on off over under again further then once here there when where why how all "
    "any both each few more most other some such no nor not only own same so than too very s t can will "
    "just don should now".split()
)
# Letters, numbers and private-use characters make words; all else separates (FTS5's unicode61 tokenizer).
WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 64


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")  # Snowball's Porter2


def normalize(word: str) -> str:
    """A word lower-cased and without diacritics, as FTS5's unicode61 tokenizer folds it."""
    word = word.lower()
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def word_terms(words: Sequence[str]) -> list[str | None]:
    """The term of each word, in order; None for a stop word."""
    folded = [normalize(word) for word in words]
    content = [word for word in folded if word not in STOP_WORDS]
    stems = iter(_stemmer().stemWords(content))
    return [None if word in STOP_WORDS else next(stems) for word in folded]


def analyze(text: str) -> list[str]:
    """The terms of a text, in order and repeated (stop words gone). Queries and chunks go through the
    same function, and so does every word a snippet or the extractive answerer compares."""
    return [term for term in word_terms(WORD.findall(text)) if term is not None]


def query_words(query: str) -> list[str]:
    """Distinct lower-case words of the query, in order, stop words dropped unless nothing else is left
    (what the FTS5 expression ORs; FTS5 stems and folds them itself)."""
    words = list(dict.fromkeys(match.group().lower() for match in WORD.finditer(query)))
    content = [word for word in words if word not in STOP_WORDS]
    return (content or words)[:MAX_TERMS]


def fts5_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that ORs the query's words, or None when it has none.

    A keyword query is an OR of the query's words (an implicit AND would miss most relevant chunks of a
    natural-language question), each quoted so that nothing the user types is read as FTS5 syntax (AND,
    OR, NOT, NEAR, `*`, `^`, column filters, parentheses)."""
    words = query_words(query)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
