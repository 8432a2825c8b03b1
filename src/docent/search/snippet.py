"""Snippets: pure. The passage of a chunk that holds most of the query's words, with those words marked."""

from __future__ import annotations

import re

from docent.search.terms import query_words, stem

MARK_OPEN, MARK_CLOSE = "«", "»"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def make_snippet(text: str, query: str, *, max_chars: int = 240) -> str:
    """At most about `max_chars` characters of `text` around the densest cluster of query words, cut at
    word boundaries (an ellipsis marks a cut), each matching word wrapped in « and »."""
    wanted = {stem(word) for word in query_words(query)}
    words = list(_WORD.finditer(text))
    starts = {w[:3] for w in wanted}  # a stem keeps at least the word's first three letters
    stems = [stem(m.group()) if m.group()[:3].lower() in starts else "" for m in words]
    matches = [m for m, s in zip(words, stems, strict=True) if s in wanted]
    matched_stems = [s for s in stems if s in wanted]
    start, end = _window(text, words, matches, matched_stems, max_chars)
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
    matched_stems: list[str],
    max_chars: int,
) -> tuple[int, int]:
    """The span to show: the window of `max_chars` with the most distinct matched words, widened to words."""
    if len(text) <= max_chars:
        return 0, len(text)
    best_start, best_count = 0, -1
    for begin in [max(0, m.start() - max_chars // 4) for m in matches] or [0]:
        inside = {
            s
            for m, s in zip(matches, matched_stems, strict=True)
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
