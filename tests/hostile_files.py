"""The hostile-file corpus: files made to exhaust a parser's memory or time, or to confuse it, made in code.

Each `Hostile` names the outcomes it may end in: an HTTP status at upload ("413", "415"), the code of a
`failed` version ("archive_bomb", "parse_timeout", ...), or "completed" for the few files whose odd bytes
are still honest text (invalid UTF-8 read as Windows-1252, as browsers do). A file whose parse takes a
second or more on an idle machine may also end in `parse_timeout` on a loaded one: both are within limits.
The limits the outcomes assume are `LIMITS` (the end-to-end test starts the server with them). Nothing
here is large to store: the biggest file is ~19 MB, and the gigabyte members are repeated deflate blocks
(tests/hostile_zip.py).
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.hostile_zip import (
    BODY_CLOSE,
    BZIP2,
    XML_DECLARATION,
    Entry,
    build_zip,
    deflated,
    docx,
    docx_entries,
    paragraph,
    repeated,
    stored,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LIMITS = {
    "DOCENT_PARSE_MAX_MEMORY_MB": "256",
    "DOCENT_PARSE_TIMEOUT_SECONDS": "5",
    "DOCENT_PARSE_MAX_TEXT_MB": "4",
    "DOCENT_PARSE_MAX_SECTIONS": "5000",
    "DOCENT_PARSE_MAX_UNPACKED_MB": "128",
    "DOCENT_MAX_UPLOAD_MB": "16",
}
_W_BODY = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Hostile:
    name: str
    content_type: str
    make: Callable[[], bytes]
    expected: frozenset[str]
    what: str


def _h(name: str, content_type: str, make: Callable[[], bytes], expected: str, what: str) -> Hostile:
    return Hostile(name, content_type, make, frozenset(expected.split("|")), what)


def _random_words(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    letters = b"abcdefghijklmnopqrstuvwxyz"
    return [bytes(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(count)]


# ---------- DOCX: archives ----------


def _paragraph_bomb() -> bytes:
    """The issue's file: 10 million paragraphs (340 MB of XML) in a 1 MB DOCX."""
    block = paragraph(b"x") * 30_000
    return docx(repeated("word/document.xml", XML_DECLARATION + _W_BODY, block, 340, BODY_CLOSE))


def _member_of(size_block: int, count: int, name: str = "word/media/image1.png", crc: bool = False) -> Entry:
    return repeated(name, b"", bytes(size_block), count, b"", crc=crc)


def _real_2gib_member() -> bytes:
    return docx(_body(b"A report."), _member_of(_MIB, 2048))


def _declared_2gib_member() -> bytes:
    """A 2 GiB member declared in the directory, with a few bytes of data behind it."""
    return docx(_body(b"A report."), Entry("word/media/image1.png", os.urandom(1024), 2 * 1024 * _MIB))


def _lying_small_size() -> bytes:
    """The directory says 2 kB; the deflate stream would give 1 GiB (zipfile stops at the declared size)."""
    member = _member_of(_MIB, 1024, name="word/document.xml")
    member.size = 2048
    return docx(member)


def _zip64_exabytes() -> bytes:
    member = Entry("word/media/image1.png", os.urandom(512), 2**62, zip64=True)
    return docx(_body(b"A report."), member)


def _many_members(count: int) -> bytes:
    tiny = [stored(f"word/media/{i}.bin", b"") for i in range(count)]
    return build_zip([*docx_entries(_body(b"A report.")), *tiny])


def _overlapping() -> bytes:
    """Fifield's overlapping-files bomb: every directory entry points at one kernel."""
    kernel = _member_of(_MIB, 50, name="word/document.xml", crc=True)
    copies = [Entry(f"word/part{i}.xml", kernel.data, kernel.size, kernel.crc) for i in range(40)]
    return build_zip([kernel, *copies, *docx_entries(_body(b"x"))[:2]], shared_data=True)


def _total_over_limit() -> bytes:
    """24 parts of 6 MB declared at 60:1 each (under every per-part limit), 144 MB in all."""
    parts = [Entry(f"word/media/p{i}.bin", os.urandom(100_000), 6_000_000) for i in range(24)]
    return docx(_body(b"A report."), *parts)


def _odd_member(entry: Entry) -> Callable[[], bytes]:
    return lambda: docx(_body(b"A report."), entry)


def _truncated() -> bytes:
    whole = docx(_body(b"A report. " * 500))
    return whole[: len(whole) // 2]


# ---------- DOCX: XML ----------


def _body(*paragraph_texts: bytes) -> bytes:
    return XML_DECLARATION + _W_BODY + b"".join(paragraph(t) for t in paragraph_texts) + BODY_CLOSE


def _with_doctype(doctype: bytes, body: bytes) -> bytes:
    return XML_DECLARATION + b"<!DOCTYPE w:document [" + doctype + b"]>" + _W_BODY + body + BODY_CLOSE


def _billion_laughs() -> bytes:
    entities = [b'<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        refs = b"".join(b"&lol%d;" % (level - 1) for _ in range(10))
        entities.append(b'<!ENTITY lol%d "%s">' % (level, refs))
    return docx(_with_doctype(b"".join(entities), paragraph(b"&lol9;")))


def _quadratic_blowup() -> bytes:
    entity = b'<!ENTITY a "' + b"B" * 100_000 + b'">'
    return docx(_with_doctype(entity, paragraph(b"&a;" * 100_000)))


def _external_entity() -> bytes:
    return docx(_with_doctype(b'<!ENTITY x SYSTEM "file:///etc/passwd">', paragraph(b"&x;")))


def _huge_attribute() -> bytes:
    """A 12 MB attribute value: 256 kB of random hex repeated, so it compresses only 2:1."""
    head = XML_DECLARATION + _W_BODY + b'<w:p w:rsidR="'
    member = repeated(
        "word/document.xml", head, os.urandom(128 * 1024).hex().encode(), 48, b'"/>' + BODY_CLOSE
    )
    return docx(member)


def _deep_xml() -> bytes:
    return docx(XML_DECLARATION + _W_BODY + b"<w:sdt>" * 60_000 + b"</w:sdt>" * 60_000 + BODY_CLOSE)


def _million_paragraphs() -> bytes:
    """1.2 million short paragraphs, 47 MB of XML that compresses 9:1, so only the parse limits stop it:
    a 2 MB block of random words repeated 24 times (farther apart than deflate's 32 kB window)."""
    rng = random.Random(2)
    words = _random_words(5000, 1)
    block = b"".join(paragraph(rng.choice(words)) for _ in range(50_000))
    return docx(repeated("word/document.xml", XML_DECLARATION + _W_BODY, block, 24, BODY_CLOSE))


# ---------- HTML, Markdown, text ----------


def _nested_divs() -> bytes:
    return b"<html><body>" + b"<div>" * 150_000 + b"deep" + b"</div>" * 150_000 + b"</body></html>"


def _unclosed_bold() -> bytes:
    return b"<html><body><p>" + b"<b>x" * 500_000 + b"</p></body></html>"


def _one_line(prefix: bytes, size: int) -> bytes:
    words = _random_words(5000, 3)
    rng = random.Random(4)
    block = b" ".join(rng.choice(words) for _ in range(20_000)) + b" "
    return prefix + (block * (size // len(block) + 1))[:size]


def _many_headings() -> bytes:
    return b"".join(b"# Heading %d\n\nText of part %d.\n\n" % (i, i) for i in range(20_000))


def _nested_quotes() -> bytes:
    return b"> " * 20_000 + b"deep\n"


def _bold_flood() -> bytes:
    """300,000 `**` openers that never close on one line: the bold pattern backtracks quadratically."""
    return b"# Notes\n\n" + b"**a " * 300_000 + b"\n"


def _link_flood() -> bytes:
    """300,000 `[a](` link openers that never close: the link pattern backtracks quadratically."""
    return b"# Notes\n\n" + b"[a](" * 300_000 + b"\n"


# ---------- PDF ----------


def _pdf(objects: list[bytes], trailer: bytes = b"/Root 1 0 R") -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref))
    return out.getvalue()


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: bytes = b"4 0 R", parent: bytes = b"2 0 R") -> bytes:
    return (
        b"<< /Type /Page /Parent " + parent + b" /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents " + contents + b" >>"
    )


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(content), extra, content)


_TEXT = _stream(b"BT /F1 12 Tf 72 720 Td (Quarterly report) Tj ET")


def _page_tree_loop() -> bytes:
    pages = b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>"
    return _pdf([_CATALOG, pages, _page(), _TEXT, _FONT])


def _parent_loop() -> bytes:
    kids = b"<< /Type /Pages /Kids [6 0 R] /Count 1 /Parent 6 0 R >>"
    inner = b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>"
    return _pdf([_CATALOG, kids, _page(), _TEXT, _FONT, inner])


def _reference_cycle() -> bytes:
    """Resources that contain themselves, and a content array that contains itself."""
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources 6 0 R /Contents 7 0 R >>"
    resources = b"<< /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> /Self 6 0 R >>"
    contents = b"[4 0 R 7 0 R]"
    pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
    return _pdf([_CATALOG, pages, page, _TEXT, _FONT, resources, contents])


def _self_referencing_form() -> bytes:
    """A form XObject that draws itself: text extraction recursing into it forever."""
    form = _stream(
        b"/X Do", b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X 6 0 R >> >>"
    )
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >> /Contents 4 0 R >>"
    )
    content = _stream(b"BT /F1 12 Tf 72 720 Td (Report) Tj ET /X Do")
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content, _FONT, form])


def _length_loop() -> bytes:
    """A stream whose /Length is an indirect reference to the stream itself."""
    content = b"BT /F1 12 Tf 72 720 Td (Report) Tj ET"
    looped = b"<< /Length 4 0 R >>\nstream\n" + content + b"\nendstream"
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _page(), looped, _FONT])


def _deep_arrays() -> bytes:
    page = _page().replace(
        b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 612 792] /Junk " + b"[" * 100_000 + b"]" * 100_000
    )
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, _TEXT, _FONT])


def _deep_dicts() -> bytes:
    nested = b"<< /A " * 50_000 + b"1" + b" >>" * 50_000
    page = _page().replace(b"/MediaBox [0 0 612 792]", b"/MediaBox [0 0 612 792] /Junk " + nested)
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, _TEXT, _FONT])


def _flate_bomb_stream() -> bytes:
    """A content stream that inflates to 2 GiB of text operators from 1.5 MB."""
    block = b"BT /F1 12 Tf 72 720 Td (bomb) Tj ET\n" * 28_000
    member = repeated("x", b"", block, 2048, b"", crc=False)
    zlib_stream = b"\x78\x9c" + member.data  # a zlib header in front of the raw deflate stream
    content = (
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(zlib_stream) + zlib_stream + b"\nendstream"
    )
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _page(), content, _FONT])


def _declared_huge_length() -> bytes:
    content = b"<< /Length 99999999999 >>\nstream\nBT /F1 12 Tf 72 720 Td (Report) Tj ET\nendstream"
    return _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _page(), content, _FONT])


def _text_flood() -> bytes:
    """One page whose content stream shows 6 MB of text."""
    words = _random_words(2000, 5)
    rng = random.Random(6)
    shown = b" ".join(b"(%s ) Tj" % rng.choice(words) for _ in range(700_000))
    return _pdf(
        [
            _CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            _page(),
            _stream(b"BT /F1 12 Tf " + shown + b" ET"),
            _FONT,
        ]
    )


def _many_pages() -> bytes:
    count = 40_000
    kids = b" ".join(b"%d 0 R" % (6 + i) for i in range(count))
    objects = [_CATALOG, b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count, b"null", _TEXT, _FONT]
    objects += [_page()] * count
    return _pdf(objects)


def _xref_prev_loop() -> bytes:
    body = _pdf([_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", _page(), _TEXT, _FONT])
    xref = body.rindex(b"xref")
    return body.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % xref)


def _garbage_after_header() -> bytes:
    return b"%PDF-1.7\n" + os.urandom(2 * _MIB) + b"\n%%EOF\n"


# ---------- the corpus ----------

_TOO_BIG = "document_too_complex|parse_timeout"
_PDF = "application/pdf"


def _duplicate_part() -> bytes:
    return build_zip([*docx_entries(_body(b"a")), deflated("word/document.xml", b"<x/>")])


def _utf16_no_bom() -> bytes:
    return ("Quarterly report. " * 5000).encode("utf-16-le")


def _mixed_encodings() -> bytes:
    return "Straße ".encode() * 500 + "Straße ".encode("latin-1") * 500


CORPUS: list[Hostile] = [
    # DOCX archives: judged from the directory and a counting inflate, before python-docx opens them
    _h("paragraph-bomb.docx", DOCX, _paragraph_bomb, "archive_bomb", "1 MB DOCX, 10M paragraphs of XML"),
    _h("real-2gib-member.docx", DOCX, _real_2gib_member, "archive_bomb", "a member inflating to 2 GiB"),
    _h("declared-2gib-member.docx", DOCX, _declared_2gib_member, "archive_bomb", "a member declared 2 GiB"),
    _h("zip64-exabytes.docx", DOCX, _zip64_exabytes, "archive_bomb", "zip64 sizes of 4 EiB"),
    _h("lying-small-size.docx", DOCX, _lying_small_size, "archive_bomb", "declares 2 kB, inflates to 1 GiB"),
    _h("50k-members.docx", DOCX, lambda: _many_members(50_000), "archive_bomb", "50,000 members"),
    _h("50k-members.zip", "application/zip", lambda: _many_members(50_000), "415", "the same, not a DOCX"),
    _h("overlapping.docx", DOCX, _overlapping, "archive_bomb", "40 members sharing one 50 MB kernel"),
    _h("total-over-limit.docx", DOCX, _total_over_limit, "archive_bomb", "144 MB in all, parts under limits"),
    _h(
        "nested-zip.docx",
        DOCX,
        _odd_member(deflated("word/media/inner.zip", b"PK\x03\x04" + bytes(100))),
        "archive_bomb",
        "a zip inside the package",
    ),
    _h(
        "encrypted-member.docx",
        DOCX,
        _odd_member(Entry("word/x.xml", b"\x00" * 64, 64, flags=1)),
        "archive_bomb",
        "an encrypted member",
    ),
    _h(
        "bzip2-member.docx",
        DOCX,
        _odd_member(Entry("word/x.xml", b"BZh9" + bytes(60), 64, method=BZIP2)),
        "archive_bomb",
        "bzip2 compression (higher ratios than deflate)",
    ),
    _h(
        "path-traversal.docx",
        DOCX,
        _odd_member(deflated("../../etc/cron.d/x", b"x")),
        "archive_bomb",
        "a member named ../../etc/cron.d/x",
    ),
    _h("duplicate-part.docx", DOCX, _duplicate_part, "archive_bomb", "word/document.xml twice"),
    _h("truncated.docx", DOCX, _truncated, "docx_corrupt", "the first half of a DOCX"),
    _h("not-a-zip.docx", DOCX, lambda: os.urandom(200_000), "415", "random bytes named .docx"),
    # DOCX XML: python-docx's parser does not resolve entities; libxml2 refuses deep trees and huge values
    _h("billion-laughs.docx", DOCX, _billion_laughs, "docx_corrupt", "10^9 lol entity expansion"),
    _h(
        "quadratic-blowup.docx", DOCX, _quadratic_blowup, "docx_corrupt", "a 100 kB entity used 100,000 times"
    ),
    _h("external-entity.docx", DOCX, _external_entity, "no_text", "an entity reading /etc/passwd"),
    _h("huge-attribute.docx", DOCX, _huge_attribute, "docx_corrupt|parse_timeout", "a 12 MB attribute value"),
    _h("deep-xml.docx", DOCX, _deep_xml, "docx_corrupt", "60,000 nested elements"),
    _h("1.2m-paragraphs.docx", DOCX, _million_paragraphs, _TOO_BIG, "1.2M paragraphs, 47 MB of XML at 9:1"),
    # HTML: the parse process is stopped at its time or memory limit
    _h("nested-divs.html", "text/html", _nested_divs, "parse_timeout", "150,000 nested <div>s"),
    _h("unclosed-bold.html", "text/html", _unclosed_bold, "parse_timeout", "500,000 unclosed <b> tags"),
    _h(
        "one-line.html",
        "text/html",
        lambda: _one_line(b"<html><body><p>", 12 * _MIB),
        _TOO_BIG,
        "12 MB of text on one line",
    ),
    _h(
        "unterminated-comment.html",
        "text/html",
        lambda: b"<html><body><!--" + b"x" * (8 * _MIB),
        _TOO_BIG,
        "an 8 MB comment that never ends (read as text)",
    ),
    _h(
        "script-only.html",
        "text/html",
        lambda: b"<html><script>" + b"var a=1;" * _MIB + b"</script></html>",
        "no_text|parse_timeout",
        "8 MB of script, no text",
    ),
    # Markdown and text
    _h(
        "one-line.md",
        "text/markdown",
        lambda: _one_line(b"# T\n\n", 12 * _MIB),
        _TOO_BIG,
        "12 MB line",
    ),
    _h("one-line.txt", "text/plain", lambda: _one_line(b"", 12 * _MIB), _TOO_BIG, "12 MB line"),
    _h("20k-headings.md", "text/markdown", _many_headings, _TOO_BIG, "20,000 sections"),
    _h(
        "bold-flood.md",
        "text/markdown",
        _bold_flood,
        "parse_timeout",
        "300,000 unclosed ** (regex backtracking)",
    ),
    _h(
        "link-flood.md",
        "text/markdown",
        _link_flood,
        "parse_timeout",
        "300,000 unclosed [a]( (regex backtracking)",
    ),
    _h("nested-quotes.md", "text/markdown", _nested_quotes, "completed", "20,000 nested > (read as text)"),
    _h(
        "over-upload-limit.txt",
        "text/plain",
        lambda: b"a " * (9 * _MIB),
        "413",
        "18 MB, over the upload limit",
    ),
    _h("nul-flood.txt", "text/plain", lambda: bytes(4 * _MIB), "415", "4 MB of NUL"),
    _h("utf16-no-bom.txt", "text/plain", _utf16_no_bom, "415", "UTF-16 without a byte-order mark"),
    _h(
        "invalid-utf8.txt",
        "text/plain",
        lambda: b"Report \xc3\x28 caf\xe9 \xff\xfe done. " * 2000,
        "completed",
        "invalid UTF-8: read as Windows-1252",
    ),
    _h("mixed-encodings.txt", "text/plain", _mixed_encodings, "completed", "UTF-8, then Latin-1"),
    _h("control-chars.txt", "text/plain", lambda: bytes(range(1, 9)) * 100_000, "415", "C0 controls only"),
    _h(
        "utf32-bom-garbage.txt",
        "text/plain",
        lambda: b"\xff\xfe\x00\x00" + os.urandom(4001),
        "415",
        "a UTF-32 byte-order mark, then garbage",
    ),
    # PDF: pypdf detects some loops; deep nesting and bombs end at its own limits or ours
    _h("page-tree-loop.pdf", _PDF, _page_tree_loop, "pdf_corrupt", "the page tree lists itself as a kid"),
    _h("parent-loop.pdf", _PDF, _parent_loop, "pdf_corrupt", "two page-tree nodes, each the other's kid"),
    _h(
        "reference-cycle.pdf",
        _PDF,
        _reference_cycle,
        "completed",
        "resources and contents containing themselves",
    ),
    _h(
        "self-drawing-form.pdf", _PDF, _self_referencing_form, "completed", "a form XObject that draws itself"
    ),
    _h("length-loop.pdf", _PDF, _length_loop, "pdf_corrupt", "/Length refers to its own stream"),
    _h("deep-arrays.pdf", _PDF, _deep_arrays, "pdf_corrupt", "100,000 nested arrays"),
    _h("deep-dicts.pdf", _PDF, _deep_dicts, "pdf_no_text|parse_timeout", "50,000 nested dictionaries"),
    _h(
        "flate-bomb.pdf",
        _PDF,
        _flate_bomb_stream,
        "pdf_corrupt|" + _TOO_BIG,
        "a content stream inflating to 2 GiB",
    ),
    _h("declared-huge-length.pdf", _PDF, _declared_huge_length, "pdf_corrupt", "/Length 99,999,999,999"),
    _h("text-flood.pdf", _PDF, _text_flood, _TOO_BIG, "6 MB of text on one page"),
    _h("40k-pages.pdf", _PDF, _many_pages, _TOO_BIG, "40,000 pages"),
    _h("xref-prev-loop.pdf", _PDF, _xref_prev_loop, "completed", "/Prev points to its own xref"),
    _h("garbage.pdf", _PDF, _garbage_after_header, "pdf_corrupt", "a header, then 2 MB of noise"),
]
