"""Values that flow through ingestion: what parsers produce and what the chunker makes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from docent.errors import ErrorCode
from docent.types import indexed_text


class ContentType(StrEnum):
    """The formats Docent reads, decided by sniffing the bytes (never by the file name alone)."""

    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    HTML = "text/html"
    MARKDOWN = "text/markdown"
    TEXT = "text/plain"


@dataclass(frozen=True)
class Section:
    """A run of text with one location: a PDF page, or the text under one heading path."""

    text: str
    page: int | None = None  # 1-based, PDFs only
    section_path: tuple[str, ...] = ()  # headings from outermost to innermost


@dataclass(frozen=True)
class ParsedDocument:
    title: str | None
    sections: list[Section]
    page_count: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is embedded and stored."""

    ordinal: int
    text: str
    token_count: int
    page: int | None
    section_path: tuple[str, ...]
    context: str = ""  # the document's title and section path, when chunks are contextual

    @property
    def indexed_text(self) -> str:
        """What is embedded and keyword-indexed: the context, then the text (which is what is shown)."""
        return indexed_text(self.context, self.text)


class ParseFailure(Exception):  # noqa: N818 - the name is the shared contract
    """The file cannot be read as its type; `code` is stable (kept on the failed version) and `message` is
    for people."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class UnsupportedContent(Exception):  # noqa: N818 - the name is the shared contract
    """The bytes are not a supported format (`UNSUPPORTED_MEDIA_TYPE`), or they contradict the declared
    type (`CONTENT_TYPE_MISMATCH`)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)
