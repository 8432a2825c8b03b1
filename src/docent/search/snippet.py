"""Snippets: pure. The passage of a chunk that holds most of the query's terms, with the words marked whose
term (`docent.search.terms.analyze`) is one of the query's: the words the keyword index matched."""

from __future__ import annotations

import re

from docent.search.terms import WORD, analyze, word_terms

MARK_OPEN, MARK_CLOSE = "«", "»"


def make_snippet(text: str, query: str, *, max_chars: int = 240) -> str:
    """At most about `max_chars` characters of `text` around the densest cluster of query terms, cut at
    word boundaries (an ellipsis marks a cut), each matching word wrapped in « and »."""
    wanted = set(analyze(query))
    words = list(WORD.finditer(text))
    terms = word_terms([m.group() for m in words]) if wanted else [None] * len(words)
    matches = [m for m, term in zip(words, terms, strict=True) if term in wanted]
    matched_terms = [term for term in terms if term is not None and term in wanted]
    start, end = _window(text, words, matches, matched_terms, max_chars)
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


def _window(
    text: str,
    words: list[re.Match[str]],
    matches: list[re.Match[str]],
    matched_terms: list[str],
    max_chars: int,
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
    start = _word_start(words, best_start)
    end = _word_end(words, min(len(text), start + max_chars))
    return start, end


def _word_start(words: list[re.Match[str]], position: int) -> int:
    """`position`, moved forward past a word it would cut."""
    for word in words:
        if word.start() < position < word.end():
            return word.end()
        if word.start() >= position:
            break
    return position


def _word_end(words: list[re.Match[str]], position: int) -> int:
    """`position`, moved back before a word it would cut."""
    for word in words:
        if word.start() < position < word.end():
            return word.start()
        if word.start() >= position:
            break
    return position
