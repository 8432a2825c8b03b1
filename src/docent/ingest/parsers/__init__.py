"""Document parsers: the bytes of a sniffed type become a ParsedDocument, or a ParseFailure.

Failure codes (`ErrorCode` members, stored on the failed version; messages are for people):
  pdf_corrupt, pdf_encrypted, pdf_no_text  - the PDF is damaged, password-protected, or scanned
  docx_corrupt                             - not a readable Word document
  decode_error                             - text that is not UTF-8, UTF-16 (with BOM) or Windows-1252
  no_text                                  - the document holds no extractable text
  parse_error                              - an unexpected library error (a bug worth a report)

The vendor libraries (pypdf, python-docx, trafilatura) are imported inside the format modules'
functions, so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from docent.errors import ErrorCode
from docent.ingest.parsers.cleanup import clean_line, clean_text
from docent.ingest.parsers.docx import parse_docx
from docent.ingest.parsers.html import parse_html
from docent.ingest.parsers.markdown import parse_markdown
from docent.ingest.parsers.pdf import NO_TEXT_LAYER, parse_pdf
from docent.ingest.parsers.text import parse_text
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure, Section

__all__ = ["parse"]

_PARSERS: dict[ContentType, Callable[[bytes], ParsedDocument]] = {
    ContentType.PDF: parse_pdf,
    ContentType.DOCX: parse_docx,
    ContentType.HTML: parse_html,
    ContentType.MARKDOWN: parse_markdown,
    ContentType.TEXT: parse_text,
}

_NAMES = {
    ContentType.PDF: "PDF",
    ContentType.DOCX: "Word document",
    ContentType.HTML: "HTML page",
    ContentType.MARKDOWN: "Markdown file",
    ContentType.TEXT: "text file",
}


def parse(content_type: ContentType, data: bytes) -> ParsedDocument:
    """Parse `data` as `content_type` (as decided by `sniff`).

    Every section's text is cleaned (no NUL or other control characters except newline and tab,
    normalised line endings) and empty sections are dropped. Raises ParseFailure, and nothing else.
    """
    try:
        document = _PARSERS[content_type](data)
    except ParseFailure:
        raise
    except Exception as exc:  # the adapters translate what they expect; this is the safety net
        raise ParseFailure(
            ErrorCode.PARSE_ERROR,
            f"The {_NAMES[content_type]} could not be read because of an unexpected error.",
        ) from exc
    return _finish(content_type, document)


def _finish(content_type: ContentType, document: ParsedDocument) -> ParsedDocument:
    sections = []
    for section in document.sections:
        text = clean_text(section.text)
        if text:
            path = tuple(heading for heading in map(clean_line, section.section_path) if heading)
            sections.append(Section(text=text, page=section.page, section_path=path))
    if not sections:
        if content_type is ContentType.PDF:
            raise ParseFailure(ErrorCode.PDF_NO_TEXT, NO_TEXT_LAYER)
        raise ParseFailure(ErrorCode.NO_TEXT, f"The {_NAMES[content_type]} contains no extractable text.")
    return ParsedDocument(
        title=clean_line(document.title or "") or None,
        sections=sections,
        page_count=document.page_count,
        warnings=list(document.warnings),
    )
