"""PDF to one Section per page, with pypdf. pypdf is imported here, on first use, not at import."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from docent.errors import ErrorCode
from docent.ingest.parsers.cleanup import clean_line, reflow
from docent.ingest.parsers.quiet import failing_as, quiet_libraries
from docent.ingest.types import ParsedDocument, ParseFailure, Section

if TYPE_CHECKING:
    from pypdf import PdfReader

NO_TEXT_LAYER = (
    "The PDF has pages but no extractable text. It looks like a scanned PDF without a text layer; "
    "OCR is not supported, so run it through OCR (or export it with text) and upload it again."
)


def parse_pdf(data: bytes) -> ParsedDocument:
    """Pages become Sections numbered from 1; pages without text are skipped, not numbered anew."""
    with quiet_libraries():
        reader = _open(data)
        _unlock(reader)
        page_count = _count_pages(reader)
        sections, unreadable = _read_pages(reader, page_count)
        title = _title(reader)
    if not sections:
        if len(unreadable) == page_count:
            raise ParseFailure(ErrorCode.PDF_CORRUPT, "The PDF is damaged: none of its pages could be read.")
        raise ParseFailure(ErrorCode.PDF_NO_TEXT, NO_TEXT_LAYER)
    notes = [f"Page {n} could not be read and was skipped." for n in unreadable]
    return ParsedDocument(title=title, sections=sections, page_count=page_count, warnings=notes)


def _open(data: bytes) -> PdfReader:
    from pypdf import PdfReader

    with failing_as(ErrorCode.PDF_CORRUPT, "The PDF is damaged or truncated and cannot be opened."):
        # strict=False: real-world PDFs are often slightly off-spec and pypdf can repair them.
        return PdfReader(io.BytesIO(data), strict=False)


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF with the empty password, as viewers do for "no user password" files."""
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    with failing_as(ErrorCode.PDF_ENCRYPTED, "The PDF is encrypted and could not be decrypted."):
        if not reader.is_encrypted:
            return
        try:
            result = reader.decrypt("")
        except DependencyError as exc:
            # AES needs the optional `cryptography` package; without it we cannot even try.
            raise ParseFailure(
                ErrorCode.PDF_ENCRYPTED,
                "The PDF is encrypted with a method this server cannot decrypt (AES).",
            ) from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise ParseFailure(
            ErrorCode.PDF_ENCRYPTED,
            "The PDF is protected by a password. Remove the password and upload it again.",
        )


def _count_pages(reader: PdfReader) -> int:
    with failing_as(ErrorCode.PDF_CORRUPT, "The PDF is damaged: its page list cannot be read."):
        count = len(reader.pages)
    if count == 0:
        raise ParseFailure(ErrorCode.PDF_CORRUPT, "The PDF contains no pages.")
    return count


def _read_pages(reader: PdfReader, page_count: int) -> tuple[list[Section], list[int]]:
    """Text of each page; a page pypdf chokes on is recorded, so one bad page does not sink the file."""
    sections: list[Section] = []
    unreadable: list[int] = []
    for number in range(1, page_count + 1):
        try:
            raw = reader.pages[number - 1].extract_text()
        except MemoryError:
            raise  # the file, not the page, is the problem: the parse process reports it
        except Exception:  # undocumented pypdf failures cost only this page; the file goes on
            unreadable.append(number)
            continue
        text = reflow(raw)
        if text:
            sections.append(Section(text=text, page=number))
    return sections, unreadable


def _title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        raw = metadata.title if metadata is not None else None
    except Exception:  # a broken info dictionary only costs us the title
        return None
    title = clean_line(raw) if isinstance(raw, str) else ""
    return title or None
