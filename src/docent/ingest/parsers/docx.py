"""Word (.docx) to Sections by heading path, with python-docx (imported on first use)."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from docent.errors import ErrorCode
from docent.ingest.parsers.cleanup import clean_line
from docent.ingest.parsers.outline import Outline
from docent.ingest.parsers.quiet import failing_as, quiet_libraries
from docent.ingest.types import ParsedDocument

if TYPE_CHECKING:
    from docx.document import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

# Matched against the style name ("Heading 2") and the style id ("Heading2"): files written by
# tools other than Word sometimes carry only the id, and python-docx lower-cases built-in names.
_HEADING_STYLE = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_TITLE_LEVEL = 0  # "Title" sits above every Heading 1
# python-docx invents this title when a file has no core-properties part; it names nothing.
_PLACEHOLDER_TITLE = "Word Document"


def parse_docx(data: bytes) -> ParsedDocument:
    """Body paragraphs and tables in document order; headings ("Title", "Heading 1-9") cut sections."""
    with quiet_libraries():
        document = _open(data)
        with failing_as(ErrorCode.DOCX_CORRUPT, "The Word document is damaged and cannot be read."):
            outline, first_heading = _walk(document)
            stated_title = document.core_properties.title
    title = clean_line(stated_title or "")
    if title == _PLACEHOLDER_TITLE:
        title = ""
    return ParsedDocument(title=title or first_heading, sections=outline.sections())


def _open(data: bytes) -> Document:
    import docx

    with failing_as(
        ErrorCode.DOCX_CORRUPT, "The file is damaged or is not a Word (.docx) document and cannot be opened."
    ):
        return docx.Document(io.BytesIO(data))


def _walk(document: Document) -> tuple[Outline, str | None]:
    from docx.text.paragraph import Paragraph

    outline = Outline()
    first_heading: str | None = None
    for block in document.iter_inner_content():
        if not isinstance(block, Paragraph):
            outline.block(_table_text(block))
            continue
        level = _heading_level(block)
        if level is None:
            outline.block(block.text)
            continue
        outline.heading(level, block.text)
        if first_heading is None and level <= 1:
            first_heading = clean_line(block.text) or None
    return outline, first_heading


def _heading_level(paragraph: Paragraph) -> int | None:
    style = paragraph.style
    # The raw style id counts too: when a file has no styles part, python-docx substitutes its
    # own defaults and an id such as "Heading1" resolves to the plain "Normal" style.
    labels = (style.name or "", style.style_id or "") if style is not None else ()
    for label in (*labels, paragraph._p.style or ""):
        if label.strip().lower() == "title":
            return _TITLE_LEVEL
        match = _HEADING_STYLE.fullmatch(label.strip())
        if match:
            return int(match.group(1))
    return None


def _table_text(table: Table) -> str:
    """One "cell | cell" line per row; a merged cell is reported by every row/column it spans,
    so repeats of the same underlying cell within a row are dropped."""
    lines = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)
