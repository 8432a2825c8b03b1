"""Deciding a file's format from its bytes; the file name and declared type only have to agree.

Only the head of the file is read (plus, for zip files, the end record and then, if it states a
sane member count, the central directory through zipfile,
and for a PDF whose magic is preceded by junk, the last kilobyte). The name and the declared type
are claims: a claim of another family than the bytes (text named .pdf, a PDF named .docx, a PDF
named .txt) is refused as `content_type_mismatch`; bytes of no supported format are refused as
`unsupported_media_type`. Within the text family, the extension picks HTML, Markdown or text.
"""

from __future__ import annotations

import pathlib
import re
import zipfile
from typing import Literal

from docent.errors import ErrorCode
from docent.ingest.limits import directory_too_large
from docent.ingest.parsers.encoding import decode_text
from docent.ingest.types import ContentType, UnsupportedContent

_Family = Literal["pdf", "docx", "text"]

_HEAD_SIZE = 8192
_PDF_WINDOW = 1024  # readers accept the %PDF- header anywhere in the first kilobyte
_PDF_MAGIC = re.compile(rb"%PDF-\d")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SUPPORTED = "Docent reads PDF, Word (.docx), HTML, Markdown and plain text files."

_EXTENSIONS = {
    ".pdf": ContentType.PDF,
    ".docx": ContentType.DOCX,
    ".html": ContentType.HTML,
    ".htm": ContentType.HTML,
    ".xhtml": ContentType.HTML,
    ".md": ContentType.MARKDOWN,
    ".markdown": ContentType.MARKDOWN,
    ".txt": ContentType.TEXT,
    ".text": ContentType.TEXT,
}
# Only specific types count as claims; application/octet-stream and the like say nothing.
_DECLARED = {
    "application/pdf": ContentType.PDF,
    "application/x-pdf": ContentType.PDF,
    ContentType.DOCX.value: ContentType.DOCX,
    "text/html": ContentType.HTML,
    "application/xhtml+xml": ContentType.HTML,
    "text/markdown": ContentType.MARKDOWN,
    "text/x-markdown": ContentType.MARKDOWN,
    "text/plain": ContentType.TEXT,
}
_FAMILIES: dict[ContentType, _Family] = {
    ContentType.PDF: "pdf",
    ContentType.DOCX: "docx",
    ContentType.HTML: "text",
    ContentType.MARKDOWN: "text",
    ContentType.TEXT: "text",
}
_FAMILY_NAMES: dict[_Family, str] = {"pdf": "a PDF", "docx": "a Word (.docx) document", "text": "text"}

# Checked before the text test: these are never documents we read, even when they decode as text.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls/.ppt); save it as .docx"),
    (b"{\\rtf", "an RTF document; save it as .docx or PDF"),
    (b"%!PS", "a PostScript file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF executable)"),
)
# Too short to trust on their own; used only to name bytes that already failed the text test.
_WEAK_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program"),
    (b"BM", "a bitmap image"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg media file"),
    (b"RIFF", "a RIFF media file (WAV, AVI or WebP)"),
)
_STRONG_MARKUP = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_BLOCK_TAGS = "div|p|h[1-6]|table|ul|ol|section|article|main|header|nav|title|meta"
_LEADING_TAG = re.compile(rf"<(?:{_BLOCK_TAGS})[\s>/]", re.IGNORECASE)


def sniff(path: pathlib.Path, filename: str | None, declared_type: str | None) -> ContentType:
    """The content type of the file at `path`; raises UnsupportedContent (and only that, besides
    OSError for an unreadable path) with code `unsupported_media_type` or `content_type_mismatch`."""
    named = _EXTENSIONS.get(_extension(filename))
    declared = _DECLARED.get((declared_type or "").split(";")[0].strip().lower())
    claims = [claim for claim in (named, declared) if claim is not None]
    with path.open("rb") as file:
        head = file.read(_HEAD_SIZE)
    family = _family(path, head, docx_claimed=ContentType.DOCX in claims)
    for claim, source in ((named, f"named {filename!r}"), (declared, f"declared as {declared_type}")):
        if claim is not None and _FAMILIES[claim] != family:
            raise UnsupportedContent(
                ErrorCode.CONTENT_TYPE_MISMATCH,
                f"The file is {source} ({_FAMILY_NAMES[_FAMILIES[claim]]}), "
                f"but its content is {_FAMILY_NAMES[family]}.",
            )
    if family == "pdf":
        return ContentType.PDF
    if family == "docx":
        return ContentType.DOCX
    return _text_type(head, named, declared)


def _extension(filename: str | None) -> str:
    return pathlib.PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()


def _family(path: pathlib.Path, head: bytes, *, docx_claimed: bool) -> _Family:
    if _is_pdf(path, head):
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        return _zip_family(path, docx_claimed=docx_claimed)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            raise _unsupported(kind)
    if _is_text(head):
        return "text"
    kind = next((kind for signature, kind in _WEAK_SIGNATURES if head.startswith(signature)), "binary data")
    raise _unsupported(kind)


def _is_pdf(path: pathlib.Path, head: bytes) -> bool:
    match = _PDF_MAGIC.search(head, 0, _PDF_WINDOW)
    if match is None:
        return False
    if not head[: match.start()].strip(b" \t\r\n\f\x00\xef\xbb\xbf"):
        return True
    # Junk before the header: real readers accept it, but so much text merely mentions "%PDF-1.7"
    # that we also want the end-of-file marker a real PDF carries in its last kilobyte.
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 1024))
        return b"%%EOF" in file.read()


def _zip_family(path: pathlib.Path, *, docx_claimed: bool) -> _Family:
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 65_536 - 22))
        too_large = directory_too_large(file.read())
    if too_large is not None:
        # zipfile would build an object per entry (a million fit in 50 MB); the parse refuses it anyway.
        if docx_claimed:
            return "docx"
        raise _unsupported(too_large)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.open("mimetype").read(100) if "mimetype" in names else b""
    except Exception as exc:  # BadZipFile, but also ValueError/EOFError/... on crafted archives
        if docx_claimed:
            return "docx"  # a damaged Word file: let the parser report docx_corrupt
        raise _unsupported("a damaged zip archive") from exc
    if "word/document.xml" in names:
        return "docx"
    raise _unsupported(_zip_kind(names, mimetype))


def _zip_kind(names: set[str], mimetype: bytes) -> str:
    if "xl/workbook.xml" in names:
        return "an Excel workbook (.xlsx)"
    if "ppt/presentation.xml" in names:
        return "a PowerPoint presentation (.pptx)"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "an OpenDocument file (.odt/.ods/.odp); save it as .docx or PDF"
    if mimetype.startswith(b"application/epub"):
        return "an EPUB e-book"
    return "a zip archive"


def _is_text(head: bytes) -> bool:
    text = decode_text(head, complete=len(head) < _HEAD_SIZE)
    if text is None or "\x00" in text:
        return False
    # Valid UTF-8 that is mostly control characters is binary that happens to decode.
    controls = sum(1 for char in text if (char < " " and char not in "\t\n\r\f") or char == "\x7f")
    return controls * 20 <= len(text)


def _text_type(head: bytes, named: ContentType | None, declared: ContentType | None) -> ContentType:
    if named is not None:
        return named  # already known to be in the text family
    if declared in (ContentType.HTML, ContentType.MARKDOWN):
        return declared
    text = decode_text(head, complete=len(head) < _HEAD_SIZE) or ""
    window = text[:1024].lstrip("\ufeff \t\r\n")
    if _STRONG_MARKUP.search(window) or _LEADING_TAG.match(window):
        return ContentType.HTML
    return ContentType.TEXT


def _unsupported(kind: str) -> UnsupportedContent:
    return UnsupportedContent(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"The file looks like {kind}. {_SUPPORTED}")
