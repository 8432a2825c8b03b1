"""Plain text: decoded, one Section; the caller names the document after the file."""

from __future__ import annotations

from docent.errors import ErrorCode
from docent.ingest.parsers.encoding import decode_text
from docent.ingest.types import ParsedDocument, ParseFailure, Section


def parse_text(data: bytes) -> ParsedDocument:
    text = decode_text(data)
    if text is None:
        raise ParseFailure(
            ErrorCode.DECODE_ERROR, "The file is not valid UTF-8, UTF-16 or Windows-1252 text."
        )
    return ParsedDocument(title=None, sections=[Section(text=text)])
