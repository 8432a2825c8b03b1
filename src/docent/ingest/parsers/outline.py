"""Cutting a stream of headings and body text into Sections that carry their heading path."""

from __future__ import annotations

from docent.ingest.types import Section


class Outline:
    """Collects headings and body blocks in document order; `sections()` gives the result.

    A heading closes the section before it and opens a new one whose path is the chain of open
    headings (a level-2 heading under a level-1 heading gives (h1, h2); a new level 1 resets).
    The heading words start their section's text so keyword search finds them. A heading with no
    body of its own is not emitted alone: its words are carried into the next section below it.
    """

    def __init__(self) -> None:
        self._open: list[tuple[int, str]] = []  # the current heading path, outermost first
        self._carried: list[tuple[int, str]] = []  # headings whose section has no body yet
        self._body: list[str] = []
        self._sections: list[Section] = []

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        if self._body:
            self._flush()
        # Siblings and deeper headings close; only the ancestors of the new heading stay carried.
        self._open = [h for h in self._open if h[0] < level] + [(level, text)]
        self._carried = [h for h in self._carried if h[0] < level] + [(level, text)]

    def block(self, text: str) -> None:
        text = text.strip()
        if text:
            self._body.append(text)

    def sections(self) -> list[Section]:
        self._flush()
        return list(self._sections)

    def _flush(self) -> None:
        parts = [heading for _, heading in self._carried] + self._body
        if parts:
            path = tuple(heading for _, heading in self._open)
            self._sections.append(Section(text="\n\n".join(parts), section_path=path))
        self._carried = []
        self._body = []
