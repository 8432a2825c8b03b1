"""Archive inspection and output limits (docent.ingest.limits), without a parse process."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from docent.ingest.limits import (
    MAX_ARCHIVE_MEMBERS,
    ParseLimits,
    check_output,
    declared_directory,
    directory_too_large,
    inspect_zip,
    parse_within_limits,
)
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure, Section
from tests.hostile_files import CORPUS
from tests.hostile_zip import (
    BODY_CLOSE,
    BODY_OPEN,
    XML_DECLARATION,
    Entry,
    build_zip,
    deflated,
    docx,
    paragraph,
    repeated,
)
from tests.samples import make_docx

LIMITS = ParseLimits(
    max_memory_mb=256, timeout_seconds=5, max_text_mb=4, max_sections=5000, max_unpacked_mb=128
)
_MIB = 1024 * 1024
_ARCHIVE_BOMBS = [h for h in CORPUS if h.expected == {"archive_bomb"}]


def _document(*texts: bytes) -> bytes:
    return XML_DECLARATION + BODY_OPEN + b"".join(paragraph(t) for t in texts) + BODY_CLOSE


def _failure(data: bytes, limits: ParseLimits = LIMITS) -> ParseFailure:
    with pytest.raises(ParseFailure) as caught:
        inspect_zip(data, limits)
    return caught.value


def test_a_word_document_passes_and_its_members_are_listed() -> None:
    data = make_docx([("h1", "Leave"), ("", "Sixteen weeks of paid leave.")])
    names = {member.name for member in inspect_zip(data, LIMITS)}
    assert "word/document.xml" in names
    parsed = parse_within_limits(ContentType.DOCX, data, LIMITS)
    assert parsed.sections[0].text.startswith("Leave")


def test_an_embedded_package_under_word_embeddings_is_not_a_nested_archive() -> None:
    inner = make_docx([("", "Embedded sheet")])
    entry = Entry("word/embeddings/Sheet1.xlsx", inner, len(inner), zipfile.crc32(inner), method=0)
    assert len(inspect_zip(docx(_document(b"Report"), entry), LIMITS)) == 4


def test_data_before_the_archive_shifts_every_offset_as_zipfile_does() -> None:
    data = b"MZ" + bytes(5000) + make_docx([("", "Behind a stub")])
    assert any(m.name == "word/document.xml" for m in inspect_zip(data, LIMITS))


@pytest.mark.parametrize("hostile", _ARCHIVE_BOMBS, ids=[h.name for h in _ARCHIVE_BOMBS])
def test_archive_bombs_are_refused_with_a_reason(hostile: object) -> None:
    failure = _failure(hostile.make())  # type: ignore[attr-defined]
    assert failure.code == "archive_bomb"
    assert failure.message.startswith("The Word document was refused before unpacking: ")


def test_a_compression_ratio_over_the_limit_is_refused_and_one_under_it_is_not() -> None:
    dense = repeated(
        "word/document.xml", XML_DECLARATION + BODY_OPEN, paragraph(b"x") * 30_000, 12, BODY_CLOSE
    )
    failure = _failure(docx(dense))
    assert "a ratio of" in failure.message and "(at most 100:1 is accepted)" in failure.message
    assert inspect_zip(docx(dense), ParseLimits(max_ratio=1000, max_unpacked_mb=128))


def test_small_members_compress_freely() -> None:
    """A kilobyte of spaces compresses 100:1 and more; below 1 MiB ratios do not count."""
    assert inspect_zip(docx(_document(b" " * 500_000)), LIMITS)


def test_member_count_over_the_limit() -> None:
    tiny = [Entry(f"word/media/{i}.bin", b"", 0, method=0) for i in range(30)]
    failure = _failure(docx(_document(b"x"), *tiny), ParseLimits(max_members=20))
    assert "at most 20 are accepted" in failure.message


def test_a_member_that_inflates_past_its_declared_size() -> None:
    """Random bytes do not compress, so the lie hides behind a ratio of 1:3 from the directory alone."""
    member = deflated("word/document.xml", os.urandom(3 * _MIB))
    member.size = _MIB
    failure = _failure(docx(member))
    assert "inflates to more than the 1.0 MB it declares" in failure.message


def test_a_directory_that_cannot_be_read_is_damage_not_a_bomb() -> None:
    assert _failure(b"PK\x03\x04" + bytes(100)).code == "docx_corrupt"
    whole = docx(_document(b"x"))
    assert _failure(whole[:-10]).code == "docx_corrupt"


def test_the_end_record_is_read_without_zipfile() -> None:
    data = build_zip([Entry(f"{i}.bin", b"", 0, method=0) for i in range(12)])
    count, size = declared_directory(data[-1000:]) or (0, 0)
    assert count == 12 and size == sum(46 + len(f"{i}.bin") for i in range(12))
    assert directory_too_large(data[-1000:]) is None
    many = build_zip([Entry(f"{i}", b"", 0, method=0) for i in range(MAX_ARCHIVE_MEMBERS + 1)])
    assert "a zip archive of 10,001 files" in (directory_too_large(many[-70_000:]) or "")
    assert declared_directory(b"no end record here") is None


def test_output_limits() -> None:
    sections = [Section(text="x" * 1000) for _ in range(3)]
    check_output(ParsedDocument(title=None, sections=sections), ParseLimits(max_sections=3, max_text_mb=1))
    with pytest.raises(ParseFailure, match="4 sections") as caught:
        check_output(
            ParsedDocument(title=None, sections=[*sections, sections[0]]), ParseLimits(max_sections=3)
        )
    assert caught.value.code == "document_too_complex"
    with pytest.raises(ParseFailure, match="at most 1 MB is indexed"):
        check_output(
            ParsedDocument(title=None, sections=[Section(text="y" * 1_000_001)]), ParseLimits(max_text_mb=1)
        )


def test_zipfile_agrees_with_the_writer_of_the_hostile_archives() -> None:
    """The hostile archives are real zips: a sane one made by the test writer reads back through zipfile."""
    data = docx(_document(b"Hello"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert b"Hello" in archive.read("word/document.xml")
