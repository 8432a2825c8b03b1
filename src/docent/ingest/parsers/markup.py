"""A boilerplate-dropping HTML reader on the standard library's html.parser.

It is the fallback when trafilatura returns nothing (it does for very small pages) or gives a
worse result, and it supplies the page title. Page furniture is dropped by markup: nav, aside,
forms, scripts and styles always; header and footer only when they belong to the page rather than
to an article or section (an article's own <header> often holds its <h1>); elements whose ARIA
role marks them as furniture; hidden elements. When the page has a <main>, only its content is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from docent.ingest.parsers.cleanup import clean_line
from docent.ingest.parsers.outline import Outline
from docent.ingest.types import Section

_ALWAYS_SKIPPED = frozenset(
    {"script", "style", "noscript", "template", "nav", "aside", "form", "svg", "iframe", "object",
     "canvas", "select", "button", "datalist"}
)  # fmt: skip
_PAGE_LANDMARKS = frozenset({"header", "footer"})
_SECTIONING = frozenset({"article", "main", "section"})
_FURNITURE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
     "track", "wbr"}
)  # fmt: skip
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "main", "blockquote", "pre", "ul", "ol", "dl", "table",
     "figure", "figcaption", "details", "summary", "address", "body", "center", "fieldset"}
)  # fmt: skip
_LINES = frozenset({"li", "tr", "dt", "dd", "br", "hr", "caption"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


@dataclass(frozen=True)
class _Open:
    tag: str
    skipped: bool
    main: bool
    sectioning: bool


@dataclass(frozen=True)
class _Event:
    level: int | None  # None for body text, 1-6 for a heading
    text: str
    in_main: bool


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.events: list[_Event] = []
        self._stack: list[_Open] = []
        self._buffer: list[str] = []
        self._title_parts: list[str] | None = None
        self._heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping():
            if tag not in _VOID:
                self._stack.append(_Open(tag, skipped=True, main=False, sectioning=False))
            return
        if tag == "title" and self.title is None:
            self._title_parts = []
        self._boundary(tag, opening=True)
        if tag not in _VOID:
            self._stack.append(self._open(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title_parts is not None:
            self.title = clean_line("".join(self._title_parts)) or None
            self._title_parts = None
        # Pop up to the matching element; an end tag with no open element is ignored, as browsers do.
        for depth in range(len(self._stack) - 1, -1, -1):
            if self._stack[depth].tag == tag:
                if not self._skipping():
                    self._boundary(tag, opening=False)
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self._title_parts is not None:
            self._title_parts.append(data)
        elif not self._skipping():
            in_pre = any(entry.tag == "pre" for entry in self._stack)
            self._buffer.append(data if in_pre else " ".join(data.split("\n")))

    def close(self) -> None:
        super().close()
        self._flush()

    def _open(self, tag: str, attrs: dict[str, str | None]) -> _Open:
        role = (attrs.get("role") or "").strip().lower()
        inside_sectioning = any(entry.sectioning for entry in self._stack)
        skipped = (
            tag in _ALWAYS_SKIPPED
            or (tag in _PAGE_LANDMARKS and not inside_sectioning)
            or role in _FURNITURE_ROLES
            or "hidden" in attrs
            or (attrs.get("aria-hidden") or "").lower() == "true"
        )
        return _Open(tag, skipped, main=tag == "main" or role == "main", sectioning=tag in _SECTIONING)

    def _skipping(self) -> bool:
        return any(entry.skipped for entry in self._stack)

    def _boundary(self, tag: str, *, opening: bool) -> None:
        """Structure from tags: headings and blocks cut text, rows and items break lines."""
        if tag in _HEADINGS:
            self._flush()
            self._heading = _HEADINGS[tag] if opening else None
        elif tag in _BLOCKS:
            self._flush()
        elif tag in _LINES:
            self._buffer.append("\n")
        elif tag in ("td", "th") and opening:
            self._buffer.append(" | ")

    def _flush(self) -> None:
        raw = "".join(self._buffer)
        self._buffer = []
        lines = (" ".join(line.split()).strip("| ") for line in raw.split("\n"))
        text = "\n".join(line for line in lines if line)
        if text:
            in_main = any(entry.main for entry in self._stack)
            self.events.append(_Event(self._heading, text, in_main))


def read_markup(html: str) -> tuple[str | None, str | None, list[Section]]:
    """Return (title from <title>, first h1, sections by heading path)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    events = reader.events
    if any(event.in_main for event in events):
        events = [event for event in events if event.in_main]
    outline = Outline()
    first_h1 = None
    for event in events:
        if event.level is None:
            outline.block(event.text)
            continue
        outline.heading(event.level, event.text)
        if event.level == 1 and first_h1 is None:
            first_h1 = clean_line(event.text) or None
    return reader.title, first_h1, outline.sections()
