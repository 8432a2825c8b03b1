"""Sniffing: the bytes decide the format; the name and declared type may only agree with them."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docent.errors import ErrorCode
from docent.ingest.sniff import sniff
from docent.ingest.types import ContentType, UnsupportedContent
from tests.samples import make_docx

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><head><title>T</title></head><body><p>Hello</p></body></html>"
MARKDOWN = b"# Expenses\n\nReports are due in 30 days.\n"
TEXT = b"Travel policy. Book economy class for short flights.\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
DOCX_TYPE = ContentType.DOCX.value


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return out.getvalue()


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def _write(data: bytes) -> Path:
        path = tmp_path / "upload.bin"  # stored files carry no meaningful name
        path.write_bytes(data)
        return path

    return _write


def refused(path: Path, filename: str | None, declared: str | None) -> UnsupportedContent:
    with pytest.raises(UnsupportedContent) as raised:
        sniff(path, filename, declared)
    assert isinstance(raised.value.code, ErrorCode)
    return raised.value


@pytest.mark.parametrize(
    ("data", "filename", "declared", "expected"),
    [
        (PDF, "report.pdf", "application/pdf", ContentType.PDF),
        (b"  \r\n" + PDF, "report.pdf", None, ContentType.PDF),
        (b"junk before the header\n" + PDF, None, None, ContentType.PDF),
        (PDF, "report.bin", "application/octet-stream", ContentType.PDF),
        (PDF, None, None, ContentType.PDF),
        (make_docx([("", "Hello")]), "leave.docx", DOCX_TYPE, ContentType.DOCX),
        (make_docx([("", "Hello")]), None, "application/octet-stream", ContentType.DOCX),
        (HTML, "page.html", "text/html", ContentType.HTML),
        (HTML, "page.htm", None, ContentType.HTML),
        (HTML, None, None, ContentType.HTML),
        (b"\n  <div>Just a fragment</div>", "fragment", None, ContentType.HTML),
        (MARKDOWN, "expenses.md", "text/markdown", ContentType.MARKDOWN),
        (MARKDOWN, "notes.markdown", "text/plain", ContentType.MARKDOWN),
        (MARKDOWN, None, "text/markdown; charset=utf-8", ContentType.MARKDOWN),
        (MARKDOWN, None, None, ContentType.TEXT),
        (MARKDOWN, "expenses.txt", None, ContentType.TEXT),
        (HTML, "saved.txt", "text/plain", ContentType.TEXT),
        (HTML, "page.md", None, ContentType.MARKDOWN),
        (TEXT, "travel.txt", "text/plain", ContentType.TEXT),
        (TEXT, "travel.csv", "application/octet-stream", ContentType.TEXT),
        (TEXT, None, None, ContentType.TEXT),
        ("Caf\u00e9 in UTF-16".encode("utf-16"), "cafe.txt", None, ContentType.TEXT),
        (b"\xef\xbb\xbfBOM and text", "bom.txt", None, ContentType.TEXT),
        ("Smart \u201cquotes\u201d".encode("cp1252"), "quotes.txt", None, ContentType.TEXT),
        (b"The header of a PDF reads %PDF-1.7 and that is all.", "notes.txt", None, ContentType.TEXT),
        (b"", "empty.txt", "text/plain", ContentType.TEXT),
    ],
)
def test_sniff_decides_from_the_bytes(
    write: Callable[[bytes], Path],
    data: bytes,
    filename: str | None,
    declared: str | None,
    expected: ContentType,
) -> None:
    assert sniff(write(data), filename, declared) is expected


def test_a_long_utf8_file_cut_inside_a_character_is_still_text(write: Callable[[bytes], Path]) -> None:
    data = "é".encode() * 10_000  # the 8 KiB head ends in the middle of a two-byte character
    assert sniff(write(b"x" + data), "long.txt", None) is ContentType.TEXT


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (PNG, "notes.txt", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 50, "photo", "JPEG image"),
        (b"GIF89a" + b"\x00" * 20, None, "GIF image"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "setup.exe", "Windows program"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.doc", "legacy Office"),
        (make_zip({"readme.txt": b"hello"}), "bundle.zip", "zip archive"),
        (make_zip({"xl/workbook.xml": b"<workbook/>"}), "sheet.xlsx", "Excel workbook"),
        (make_zip({"xl/workbook.xml": b"<workbook/>"}), "sheet.docx", "Excel workbook"),
        (b"PK\x03\x04 not really a zip", "archive", "damaged zip"),
        (bytes(range(256)) * 4, None, "binary data"),
        (b"\x01\x02\x03\x04\x05\x06 mostly controls \x0e\x0f\x10\x11\x12\x13\x14\x15", None, "binary"),
    ],
)
def test_unsupported_bytes_are_refused_whatever_the_name(
    write: Callable[[bytes], Path], data: bytes, filename: str | None, words: str
) -> None:
    error = refused(write(data), filename, "text/plain" if filename == "notes.txt" else None)
    assert error.code == "unsupported_media_type"
    assert words in error.message


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [
        (TEXT, "report.pdf", "application/pdf"),
        (TEXT, "report.pdf", None),
        (TEXT, None, "application/pdf"),
        (PDF, "report.docx", DOCX_TYPE),
        (PDF, "notes.txt", "text/plain"),
        (PDF, "notes.md", None),
        (PDF, None, "text/html"),
        (make_docx([("", "Hello")]), "leave.pdf", None),
        (make_docx([("", "Hello")]), "leave.txt", None),
        (HTML, "page.docx", None),
    ],
)
def test_names_and_types_that_contradict_the_bytes_are_a_mismatch(
    write: Callable[[bytes], Path], data: bytes, filename: str | None, declared: str | None
) -> None:
    error = refused(write(data), filename, declared)
    assert error.code == "content_type_mismatch"
    assert "but its content is" in error.message


def test_a_damaged_zip_named_docx_goes_to_the_docx_parser(write: Callable[[bytes], Path]) -> None:
    # The parser then reports docx_corrupt, which tells the user more than "unsupported".
    assert sniff(write(b"PK\x03\x04 truncated"), "leave.docx", None) is ContentType.DOCX


@settings(max_examples=200)
@given(data=st.binary(max_size=2048), name=st.sampled_from([None, "a.pdf", "a.docx", "a.txt", "a.md", "a"]))
def test_sniff_raises_nothing_but_unsupported_content(data: bytes, name: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "upload.bin"
        path.write_bytes(data)
        outcome = _sniff_or_refusal(path, name)
    if isinstance(outcome, UnsupportedContent):
        assert outcome.code in {"unsupported_media_type", "content_type_mismatch"}
        assert outcome.message
    else:
        assert isinstance(outcome, ContentType)


def _sniff_or_refusal(path: Path, name: str | None) -> ContentType | UnsupportedContent:
    try:
        return sniff(path, name, None)
    except UnsupportedContent as error:  # anything else propagates and fails the test
        return error
