"""Text hygiene shared by every parser: what may reach the chunker and the database."""

from __future__ import annotations

import re

# Vertical tab, form feed and the Unicode line/paragraph separators end a line; keep the break.
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029]")
# Other C0 controls and DEL carry no text, and PostgreSQL rejects NUL in text columns. Lone
# surrogates (from broken PDF font maps) cannot be encoded as UTF-8, so they go too.
_UNWANTED = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]+")
# A word broken across lines by a hyphen ("exam-\nple"); only joined when the next line goes on
# in lower case, so "Anglo-\nSaxon" and list dashes keep their hyphen.
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\n[ \t]*(?=[^\W\d_])")


def clean_text(text: str) -> str:
    """Normalise line endings, drop control characters and trailing spaces, keep paragraph breaks."""
    text = _UNWANTED.sub("", _LINE_BREAKS.sub("\n", text))
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def clean_line(text: str) -> str:
    """A single-line value (a title, a heading): controls dropped, all whitespace collapsed."""
    return " ".join(_UNWANTED.sub("", text).split())


def reflow(text: str) -> str:
    """Undo typesetting in extracted page text: join hyphenated line breaks, collapse spaces."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _HYPHEN_BREAK.sub(_join_if_lowercase, text)
    text = "\n".join(_SPACE_RUNS.sub(" ", line).strip() for line in text.split("\n"))
    return clean_text(text)


def _join_if_lowercase(match: re.Match[str]) -> str:
    following = match.string[match.end()]
    return "" if following.islower() else match.group(0)
