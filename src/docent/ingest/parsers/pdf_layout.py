"""Headings in PDF text, found from font size and weight: a PDF has no heading markup, only lines of
text drawn in some font at some size. Pure: pages of styled lines in, Sections with heading paths out.

The body size is the size most characters of the document are set in. A line set at least `_LARGER`
times larger is a heading; so is a short bold line at body size that does not read as a sentence. The
distinct heading sizes, largest first, are the levels (bold at body size is the level below them all).
A line repeated on many pages (a running header, a page number) is never a heading.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from docent.ingest.parsers.cleanup import reflow
from docent.ingest.types import Section

_LARGER = 1.15  # headings in real documents are 20-100% larger than body text; 1.15 leaves room for noise
_MAX_HEADING_CHARS = 150
_MAX_HEADING_WORDS = 20
_MAX_BOLD_HEADING_WORDS = 12
_MAX_LEVELS = 6
_PAGE_NUMBER_CHARS = 6
_LETTER = re.compile(r"[^\W\d_]")
_LEADER_DOTS = re.compile(r"(?:\. ?){4,}")  # a table of contents line: "Introduction . . . . 3"
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demibold", re.IGNORECASE)


@dataclass(frozen=True)
class StyledLine:
    text: str
    size: float  # the size most of its characters are drawn at, in points after scaling
    bold: bool  # every character is drawn in a bold font


class LineCollector:
    """Takes pypdf's `visitor_text` calls for one page and cuts them into `StyledLine`s: the text pypdf
    hands the visitor, joined, is exactly what `extract_text` returns, line breaks included."""

    def __init__(self) -> None:
        self.lines: list[StyledLine] = []
        self._parts: list[str] = []
        self._sizes: Counter[float] = Counter()
        self._bold_chars = 0
        self._chars = 0

    def visit(self, text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float) -> None:
        scaled = _scaled_size(cm, tm, size)
        bold = is_bold_font(font)
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                self.end_line()
            self._parts.append(piece)
            visible = len(piece) - piece.count(" ")
            if visible:
                self._sizes[scaled] += visible
                self._chars += visible
                self._bold_chars += visible if bold else 0

    def end_line(self) -> None:
        text = "".join(self._parts)
        if text.strip():
            size = self._sizes.most_common(1)[0][0] if self._sizes else 0.0
            self.lines.append(StyledLine(text, size, self._chars > 0 and self._bold_chars == self._chars))
        self._parts, self._sizes, self._bold_chars, self._chars = [], Counter(), 0, 0


def is_bold_font(font: object) -> bool:
    """A bold face by its name, its descriptor's weight, or its ForceBold flag."""
    if not isinstance(font, dict):
        return False
    try:
        name = str(font.get("/BaseFont", ""))
        if _BOLD_NAME.search(name):
            return True
        descriptor: object = font.get("/FontDescriptor")
        resolve = getattr(descriptor, "get_object", None)  # an indirect reference: read what it names
        if callable(resolve):
            descriptor = resolve()
        if isinstance(descriptor, dict):
            weight = float(descriptor.get("/FontWeight", 0) or 0)
            flags = int(descriptor.get("/Flags", 0) or 0)
            return weight >= 600 or bool(flags & (1 << 18))
    except (TypeError, ValueError, AttributeError):
        return False  # a malformed font dictionary: treat it as regular
    return False


def _scaled_size(cm: Sequence[float], tm: Sequence[float], size: float) -> float:
    """The font size as drawn: the text and current matrices scale it (many PDFs set 1 pt and scale)."""
    try:
        c = tm[2] * cm[0] + tm[3] * cm[2]
        d = tm[2] * cm[1] + tm[3] * cm[3]
        scaled = abs(float(size)) * math.hypot(c, d)
    except (TypeError, IndexError):
        return 0.0
    return round(scaled * 2) / 2  # half points: one size drawn slightly differently is still one size


def sections_from_pages(pages: Sequence[tuple[int, Sequence[StyledLine]]]) -> list[Section]:
    """Sections of each page (number, lines) with the heading path open at each line; a heading starts
    its section's text, as the other formats do, and the path carries over to the next page."""
    levels = _heading_levels(pages)
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    for number, lines in pages:
        body: list[str] = []
        for line in lines:
            level = levels.get(_key(line))
            if level is not None:
                sections.extend(_section(body, number, path))
                body = []
                path = [h for h in path if h[0] < level] + [(level, " ".join(line.text.split()))]
            body.append(line.text)
        sections.extend(_section(body, number, path))
    return sections


def _section(body: list[str], page: int, path: list[tuple[int, str]]) -> list[Section]:
    text = reflow("\n".join(body))
    if not text or (len(text) <= _PAGE_NUMBER_CHARS and _LETTER.search(text) is None):
        return []  # nothing, or a page number left alone between a page break and a heading
    return [Section(text=text, page=page, section_path=tuple(t for _, t in path))]


def _key(line: StyledLine) -> tuple[str, float, bool]:
    return " ".join(line.text.split()), line.size, line.bold


def _heading_levels(pages: Sequence[tuple[int, Sequence[StyledLine]]]) -> dict[tuple[str, float, bool], int]:
    """The heading lines of the document, each with its level (1 is the outermost)."""
    sizes: Counter[float] = Counter()
    seen_on: Counter[tuple[str, float, bool]] = Counter()
    for _, lines in pages:
        for line in lines:
            sizes[line.size] += len(line.text.strip())
        for key in {_key(line) for line in lines}:
            seen_on[key] += 1
    if not sizes:
        return {}
    body = sizes.most_common(1)[0][0]
    repeated = max(3, len(pages) // 2 + 1)
    candidates: dict[tuple[str, float, bool], float] = {}  # line -> its rank size (bold body: just below)
    for _, lines in pages:
        for line in lines:
            key = _key(line)
            text = key[0]
            if seen_on[key] >= repeated or not _could_be_heading(text):
                continue
            if line.size >= body * _LARGER:
                candidates[key] = line.size
            elif line.bold and line.size >= body * 0.95 and _reads_as_title(text):
                candidates[key] = body
    ranks = sorted(set(candidates.values()), reverse=True)
    return {key: min(ranks.index(size) + 1, _MAX_LEVELS) for key, size in candidates.items()}


def _could_be_heading(text: str) -> bool:
    return (
        0 < len(text) <= _MAX_HEADING_CHARS
        and len(text.split()) <= _MAX_HEADING_WORDS
        and _LETTER.search(text) is not None
        and _LEADER_DOTS.search(text) is None
    )


def _reads_as_title(text: str) -> bool:
    """A bold line at body size is a heading when it is short and does not end like a sentence part."""
    return len(text.split()) <= _MAX_BOLD_HEADING_WORDS and not text.endswith((".", ",", ";"))
