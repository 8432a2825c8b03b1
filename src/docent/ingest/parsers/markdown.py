"""Markdown to Sections by heading path: ATX and setext headings, fenced code respected."""

from __future__ import annotations

import re

from docent.errors import ErrorCode
from docent.ingest.parsers.cleanup import clean_line
from docent.ingest.parsers.encoding import decode_text
from docent.ingest.parsers.outline import Outline
from docent.ingest.types import ParsedDocument, ParseFailure, Section

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
# Lines that are pure layout and carry no words: thematic breaks and table delimiter rows.
_LAYOUT = re.compile(
    r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*|[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+[ \t]*(?::?-+:?)?[ \t]*"
)
# A paragraph line that can be underlined into a setext heading (not a list item, quote or table).
_NOT_SETEXT_TEXT = re.compile(r"[ \t]*(?:[-*+>|]|\d+[.)])(?:\s|$)")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_FRONT_MATTER_TITLE = re.compile(r"title:\s*(.+)", re.IGNORECASE)


def parse_markdown(data: bytes) -> ParsedDocument:
    """Title: the front-matter `title`, else the first level-1 heading."""
    text = decode_text(data)
    if text is None:
        raise ParseFailure(
            ErrorCode.DECODE_ERROR, "The Markdown file is not valid UTF-8, UTF-16 or Windows-1252 text."
        )
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines, title = _front_matter(lines)
    reader = _Reader()
    for line in lines:
        reader.feed(line)
    return ParsedDocument(title=title or reader.first_h1, sections=reader.finish())


class _Reader:
    """Line-by-line state machine: inside or outside a code fence, and the current text block."""

    def __init__(self) -> None:
        self.outline = Outline()
        self.first_h1: str | None = None
        self._lines: list[str] = []
        self._fence: str | None = None  # the opening fence while inside a fenced code block
        # Where the paragraph that a setext underline would turn into a heading starts in _lines.
        self._paragraph_start: int | None = None

    def feed(self, line: str) -> None:
        if self._fence is not None:
            self._in_fence(line)
            return
        fence = _FENCE.fullmatch(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            self._fence = fence.group(1)
            self._paragraph_start = None
            return
        atx = _ATX.fullmatch(line)
        if atx:
            self._heading(len(atx.group(1)), atx.group(2) or "")
            return
        setext = _SETEXT.fullmatch(line)
        if setext and self._paragraph_start is not None:
            # CommonMark: the underline turns the whole paragraph above it into the heading.
            text = " ".join(self._lines[self._paragraph_start :])
            del self._lines[self._paragraph_start :]
            self._heading(1 if setext.group(1)[0] == "=" else 2, text)
            return
        if _LAYOUT.fullmatch(line):
            self._paragraph_start = None
            return
        self._track_paragraph(line)
        self._lines.append(_inline(line))

    def _track_paragraph(self, line: str) -> None:
        if not line.strip() or _NOT_SETEXT_TEXT.match(line):
            self._paragraph_start = None
        elif self._paragraph_start is None:
            self._paragraph_start = len(self._lines)

    def finish(self) -> list[Section]:
        self.outline.block("\n".join(self._lines))
        return self.outline.sections()

    def _in_fence(self, line: str) -> None:
        assert self._fence is not None
        closing = line.strip()
        if closing.startswith(self._fence) and set(closing) == {self._fence[0]}:
            self._fence = None
        else:
            self._lines.append(line)

    def _heading(self, level: int, text: str) -> None:
        self.outline.block("\n".join(self._lines))
        self._lines = []
        self._paragraph_start = None
        heading = clean_line(_inline(text))
        self.outline.heading(level, heading)
        if level == 1 and self.first_h1 is None and heading:
            self.first_h1 = heading


def _inline(text: str) -> str:
    """Light inline clean-up: links and images keep their text, bold markers go; words stay."""
    return _BOLD.sub(r"\2", _LINK.sub(r"\1", text))


def _front_matter(lines: list[str]) -> tuple[list[str], str | None]:
    """Strip a YAML front-matter block (it would otherwise read as a setext heading) and take its title."""
    if not lines or lines[0].strip() != "---":
        return lines, None
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            title = None
            for line in lines[1:end]:
                match = _FRONT_MATTER_TITLE.fullmatch(line.strip())
                if match:
                    title = clean_line(match.group(1).strip("'\"")) or None
            return lines[end + 1 :], title
    return lines, None
