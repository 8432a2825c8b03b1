"""Snippets: pure. The passage of a chunk that holds most of the query's terms, with the words marked whose
term (`docent.search.terms.analyze`) is one of the query's: the words the keyword index matched."""

from __future__ import annotations

import re
from functools import lru_cache

from docent.search.terms import WORD, analyze, word_terms

MARK_OPEN, MARK_CLOSE = "«", "»"


def make_snippet(text: str, query: str, *, max_chars: int = 240) -> str:
    """At most about `max_chars` characters of `text` around the densest cluster of query terms, cut at
    word boundaries (an ellipsis marks a cut), each matching word wrapped in « and »."""
    wanted = frozenset(analyze(query))
    words = list(_starting_like(wanted).finditer(text)) if wanted else []
    terms = [_term(m.group()) for m in words]
    matches = [m for m, term in zip(words, terms, strict=True) if term in wanted]
    matched_terms = [term for term in terms if term is not None and term in wanted]
    start, end = _window(text, matches, matched_terms, max_chars)
    pieces: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for match in matches:
        if match.start() < start or match.end() > end:
            continue
        pieces.append(text[cursor : match.start()])
        pieces.append(MARK_OPEN + match.group() + MARK_CLOSE)
        cursor = match.end()
    pieces.append(text[cursor:end])
    pieces.append("…" if end < len(text) else "")
    return " ".join("".join(pieces).split())


@lru_cache(maxsize=1 << 16)
def _term(word: str) -> str | None:
    """A word's term, remembered: a chunk's words are mostly words seen before (a fifth of a snippet's
    time went to folding and stemming them again)."""
    return word_terms([word])[0]


@lru_cache(maxsize=256)
def _starting_like(terms: frozenset[str]) -> re.Pattern[str]:
    """The words (as `WORD` cuts them) that may have one of `terms` as their term: those starting with a
    term's first letter, in either case, or with a letter outside ASCII (folded, "É" may become "e").
    A stem keeps its word's first letter (Porter2 rewrites suffixes only; the tests check it over SciFact's
    vocabulary), so no other word can match, and most of a chunk's words are never stemmed: a search's ten
    snippets took about a third of a keyword search's time at 100k chunks when every word was."""
    initials = "".join(sorted({re.escape(term[0]) for term in terms if term[0].isascii()}))
    first = f"[{initials}]|[^\\x00-\\x7f]" if initials else "[^\\x00-\\x7f]"
    return re.compile(f"(?<![^\\W_])(?=[^\\W_])(?:{first})[^\\W_]*", re.IGNORECASE)


def _window(
    text: str, matches: list[re.Match[str]], matched_terms: list[str], max_chars: int
) -> tuple[int, int]:
    """The span to show: the window of `max_chars` with the most distinct matched words, widened to words."""
    if len(text) <= max_chars:
        return 0, len(text)
    best_start, best_count = 0, -1
    for begin in [max(0, m.start() - max_chars // 4) for m in matches] or [0]:
        inside = {
            s
            for m, s in zip(matches, matched_terms, strict=True)
            if begin <= m.start() and m.end() <= begin + max_chars
        }
        if len(inside) > best_count:
            best_start, best_count = begin, len(inside)
    start = _out_of_word(text, best_start, forward=True)
    end = _out_of_word(text, min(len(text), start + max_chars), forward=False)
    return start, end


def _out_of_word(text: str, position: int, *, forward: bool) -> int:
    """`position`, moved to the end (`forward`) or the start of the word it would cut, if it cuts one."""
    step = 1 if forward else -1
    while 0 < position < len(text) and _in_word(text[position - 1]) and _in_word(text[position]):
        position += step
    return position


def _in_word(character: str) -> bool:
    return WORD.match(character) is not None
