"""Parsers: every format's happy path, and every failure ends as a ParseFailure with a stable code."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import warnings
import zipfile

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter

from docent.errors import ErrorCode
from docent.ingest.parsers import parse
from docent.ingest.parsers.markup import read_markup
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure
from tests.samples import make_blank_pdf, make_docx, make_pdf

# ---------- sample builders (documents are made here, not committed) ----------


def rewrite_pdf(data: bytes, *, title: str | None = None, user_password: str | None = None) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    if title is not None:
        writer.add_metadata({"/Title": title})
    if user_password is not None:
        writer.encrypt(user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


HANDBOOK: list[tuple[str, str | list[tuple[str, str]]]] = [
    ("", "Read this first."),
    ("h0", "Employee handbook"),
    ("h1", "Leave"),
    ("", "Everyone gets twenty-five days of annual leave."),
    ("h2", "Parental leave"),
    ("", "Parents receive sixteen weeks of paid parental leave."),
    ("table", [("Type", "Weeks"), ("Parental", "16")]),
    ("h1", "Travel"),
    ("", "Book economy class for short flights."),
]


SECURITY_PAGE = (
    b"<html><head><title>Security handbook</title></head><body><nav>Home | About</nav><main>"
    b"<h1>Passwords</h1><p>Passwords must be rotated every 90 days and must contain at least "
    b"14 characters.</p></main></body></html>"
)


def long_page() -> bytes:
    body = "".join(
        f"<p>Paragraph {i} explains the expense policy in enough detail for a reader to follow it.</p>"
        for i in range(8)
    )
    return (
        "<!doctype html><html><head><title>Finance</title></head><body>"
        "<header><a href='/'>Intranet home</a></header><nav><ul><li>Sitemap</li></ul></nav>"
        f"<main><article><h1>Expenses</h1>{body}<h2>Deadlines</h2>"
        "<p>Reports are due within thirty days of the trip.</p>"
        "<table><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel</td><td>150</td></tr></table>"
        f"<h2>Approvals</h2>{body}</article></main>"
        "<aside>Related: cookie settings</aside><footer>Copyright Acme</footer>"
        "<script>var tracking = 1;</script></body></html>"
    ).encode()


def failure(content_type: ContentType, data: bytes) -> ParseFailure:
    with pytest.raises(ParseFailure) as raised:
        parse(content_type, data)
    assert isinstance(raised.value.code, ErrorCode)  # a member, stored as is on the failed version
    return raised.value


def all_text(document: ParsedDocument) -> str:
    return "\n".join(section.text for section in document.sections)


# ---------- PDF ----------


def test_pdf_gives_one_section_per_page_with_its_number() -> None:
    data = make_pdf([["Welcome to Acme."], ["The VPN client is called Tunnelbear."]])
    document = parse(ContentType.PDF, data)
    assert [(s.page, s.text) for s in document.sections] == [
        (1, "Welcome to Acme."),
        (2, "The VPN client is called Tunnelbear."),
    ]
    assert document.page_count == 2
    assert document.title is None


def test_pdf_skips_empty_pages_without_renumbering() -> None:
    document = parse(ContentType.PDF, make_pdf([["First page."], [], ["Third page."]]))
    assert [s.page for s in document.sections] == [1, 3]
    assert document.page_count == 3


def test_pdf_text_is_reflowed() -> None:
    data = make_pdf([["An exam-", "ple of hyphen-", "ation in   spaced    text.", "Anglo-", "Saxon stays."]])
    text = parse(ContentType.PDF, data).sections[0].text
    assert "example of hyphenation in spaced text." in text
    assert "Anglo-\nSaxon" in text


def test_pdf_title_comes_from_metadata() -> None:
    data = rewrite_pdf(make_pdf([["Body text."]]), title="Onboarding guide")
    assert parse(ContentType.PDF, data).title == "Onboarding guide"


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    data = rewrite_pdf(make_pdf([["Open to all readers."]]), user_password="")
    assert parse(ContentType.PDF, data).sections[0].text == "Open to all readers."


def test_pdf_with_a_password_fails_as_encrypted() -> None:
    data = rewrite_pdf(make_pdf([["Top secret."]]), user_password="secret")
    error = failure(ContentType.PDF, data)
    assert error.code == "pdf_encrypted"
    assert "password" in error.message


def test_blank_pdf_is_reported_as_scanned() -> None:
    error = failure(ContentType.PDF, make_blank_pdf(2))
    assert error.code == "pdf_no_text"
    assert "scanned" in error.message
    assert "OCR is not supported" in error.message


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n garbage \n%%EOF", b"%PDF-1.7\n", b"", b"not a pdf at all", make_pdf([["Cut."]])[:150]],
    ids=["garbage", "header-only", "empty", "text", "truncated"],
)
def test_broken_pdf_is_a_parse_failure(data: bytes) -> None:
    assert failure(ContentType.PDF, data).code in {"pdf_corrupt", "pdf_no_text"}


def test_garbage_pdf_is_corrupt() -> None:
    error = failure(ContentType.PDF, b"%PDF-1.4\n garbage \n%%EOF")
    assert error.code == "pdf_corrupt"
    assert error.message


# ---------- DOCX ----------


def test_docx_sections_follow_the_heading_path() -> None:
    document = parse(ContentType.DOCX, make_docx(HANDBOOK))
    paths = [s.section_path for s in document.sections]
    assert paths == [
        (),
        ("Employee handbook", "Leave"),
        ("Employee handbook", "Leave", "Parental leave"),
        ("Employee handbook", "Travel"),
    ]
    parental = document.sections[2].text
    assert parental.startswith("Parental leave\n\nParents receive sixteen weeks")
    assert "Type | Weeks\nParental | 16" in parental
    # A heading with no body of its own is carried into the next section, not lost.
    assert document.sections[1].text.startswith("Employee handbook\n\nLeave\n\nEveryone gets")


def test_docx_title_prefers_core_properties_then_first_title() -> None:
    assert parse(ContentType.DOCX, make_docx(HANDBOOK)).title == "Employee handbook"
    assert parse(ContentType.DOCX, make_docx(HANDBOOK, core_title="HR Manual 2024")).title == "HR Manual 2024"


def test_docx_heading_levels_reset() -> None:
    document = docx.Document()
    for level, text in [(1, "A"), (2, "A.1"), (3, "A.1.a"), (1, "B"), (2, "B.1")]:
        document.add_heading(text, level=level)
        document.add_paragraph(f"Body of {text}.")
    out = io.BytesIO()
    document.save(out)
    paths = [s.section_path for s in parse(ContentType.DOCX, out.getvalue()).sections]
    assert paths == [("A",), ("A", "A.1"), ("A", "A.1", "A.1.a"), ("B",), ("B", "B.1")]


@pytest.mark.parametrize(
    "data", [b"PK\x03\x04 broken zip", b"", b"plain words"], ids=["zip", "empty", "text"]
)
def test_corrupt_docx_fails_as_docx_corrupt(data: bytes) -> None:
    assert failure(ContentType.DOCX, data).code == "docx_corrupt"


def test_docx_without_a_styles_part_still_finds_headings_by_style_id() -> None:
    # Some generators write only document.xml; the heading is then known by its style id alone.
    main = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = (
        '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Parental leave</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>Parents receive sixteen weeks.</w:t></w:r></w:p>"
    )
    content_types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    relationships = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="word/document.xml" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument"/></Relationships>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", relationships)
        archive.writestr(
            "word/document.xml", f'<w:document xmlns:w="{main}"><w:body>{body}</w:body></w:document>'
        )
    document = parse(ContentType.DOCX, buffer.getvalue())
    assert document.title == "Parental leave"
    assert [s.section_path for s in document.sections] == [("Parental leave",)]


def test_docx_with_broken_xml_fails_as_docx_corrupt() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(make_docx(HANDBOOK))) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            payload = b"<w:document><unclosed>" if item.filename == "word/document.xml" else source.read(item)
            target.writestr(item, payload)
    assert failure(ContentType.DOCX, buffer.getvalue()).code == "docx_corrupt"


def test_docx_without_text_is_no_text() -> None:
    out = io.BytesIO()
    docx.Document().save(out)
    assert failure(ContentType.DOCX, out.getvalue()).code == "no_text"


# ---------- HTML ----------


def test_small_html_page_keeps_main_content_and_drops_navigation() -> None:
    document = parse(ContentType.HTML, SECURITY_PAGE)
    assert document.title == "Security handbook"
    assert [s.section_path for s in document.sections] == [("Passwords",)]
    assert "Passwords must be rotated every 90 days" in document.sections[0].text
    assert "Home | About" not in all_text(document)


def test_long_html_page_has_heading_paths_and_no_boilerplate() -> None:
    document = parse(ContentType.HTML, long_page())
    text = all_text(document)
    assert document.title == "Finance"
    paths = {s.section_path for s in document.sections}
    assert {("Expenses",), ("Expenses", "Deadlines"), ("Expenses", "Approvals")} <= paths
    assert "Reports are due within thirty days" in text
    assert "Hotel | 150" in text
    for boilerplate in ("Intranet home", "Sitemap", "cookie settings", "Copyright", "tracking"):
        assert boilerplate not in text


def test_article_header_is_content_but_page_header_is_not() -> None:
    page = (
        b"<body><header>Site banner</header><article><header><h1>Holiday rules</h1></header>"
        b"<p>Offices close on public holidays.</p></article><footer>Legal notice</footer></body>"
    )
    document = parse(ContentType.HTML, page)
    assert document.title == "Holiday rules"
    assert document.sections[0].section_path == ("Holiday rules",)
    assert "Site banner" not in all_text(document)
    assert "Legal notice" not in all_text(document)


def test_markup_fallback_reads_the_small_page_on_its_own() -> None:
    # trafilatura is not involved here: this is the reader used when it returns nothing.
    title, first_h1, sections = read_markup(SECURITY_PAGE.decode())
    assert (title, first_h1) == ("Security handbook", "Passwords")
    assert [s.section_path for s in sections] == [("Passwords",)]
    assert "at least 14 characters" in sections[0].text
    assert "Home" not in sections[0].text


def test_markup_fallback_keeps_only_main_and_tables_as_rows() -> None:
    page = (
        "<body><div class='sidebar'>Quick links</div><div role='main'><h2>Limits</h2>"
        "<table><tr><th>Item</th><th>Limit</th></tr><tr><td>Hotel</td><td>150</td></tr></table>"
        "<form><label>Search</label></form><p hidden>Draft note</p></div></body>"
    )
    _, _, sections = read_markup(page)
    assert [s.section_path for s in sections] == [("Limits",)]
    assert sections[0].text == "Limits\n\nItem | Limit\nHotel | 150"


def test_html_honours_meta_charset() -> None:
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Café crème</p></body></html>'
    assert "Café crème" in all_text(parse(ContentType.HTML, page.encode("latin-1")))


def test_html_without_text_is_no_text() -> None:
    page = b"<html><head><title>Empty</title><script>x()</script></head><body><nav>Home</nav></body></html>"
    assert failure(ContentType.HTML, page).code == "no_text"


# ---------- Markdown ----------

MARKDOWN = b"""---
title: Expense guide
---
Intro before any heading.

# Expenses

Submit **all** receipts, see [the portal](https://finance.example).

## Deadlines ##

Reports are due within 30 days.

```python
# not a heading
print("code stays")
```

Approvals
---------

Managers approve.

Travel
======

Economy only.
"""


def test_markdown_sections_follow_atx_and_setext_headings() -> None:
    document = parse(ContentType.MARKDOWN, MARKDOWN)
    assert [s.section_path for s in document.sections] == [
        (),
        ("Expenses",),
        ("Expenses", "Deadlines"),
        ("Expenses", "Approvals"),
        ("Travel",),
    ]
    assert document.title == "Expense guide"
    assert document.sections[1].text == "Expenses\n\nSubmit all receipts, see the portal."
    deadlines = document.sections[2].text
    assert "# not a heading" in deadlines
    assert 'print("code stays")' in deadlines


def test_markdown_title_is_the_first_h1_without_front_matter() -> None:
    assert parse(ContentType.MARKDOWN, b"Preface.\n\n# Real title\n\nBody.\n").title == "Real title"
    assert parse(ContentType.MARKDOWN, b"## Only a subheading\n\nBody.\n").title is None


def test_markdown_setext_heading_takes_the_whole_paragraph() -> None:
    document = parse(ContentType.MARKDOWN, b"Intro.\n\nA heading over\ntwo lines\n---\n\nBody.\n")
    assert [s.section_path for s in document.sections] == [(), ("A heading over two lines",)]


def test_markdown_thematic_break_is_not_a_heading() -> None:
    document = parse(ContentType.MARKDOWN, b"First part.\n\n---\n\nSecond part.\n")
    assert [s.section_path for s in document.sections] == [()]
    assert document.sections[0].text == "First part.\n\nSecond part."


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
BLOCK = st.one_of(
    st.tuples(st.just("heading"), st.integers(1, 6), st.lists(WORD, min_size=1, max_size=4)),
    st.tuples(st.just("paragraph"), st.just(0), st.lists(WORD, min_size=1, max_size=12)),
    st.tuples(st.just("code"), st.just(0), st.lists(WORD, min_size=1, max_size=6)),
)


@given(st.lists(BLOCK, min_size=1, max_size=12))
def test_markdown_keeps_every_body_word_and_builds_paths(blocks: list[tuple[str, int, list[str]]]) -> None:
    lines: list[str] = []
    for kind, level, words in blocks:
        if kind == "heading":
            lines.append("#" * level + " " + " ".join(words))
        elif kind == "paragraph":
            lines.append(" ".join(words))
        else:
            lines.extend(["```", "# " + " ".join(words), "```"])
        lines.append("")
    document = parse(ContentType.MARKDOWN, "\n".join(lines).encode())
    output_words = re.findall(r"[a-z]+", all_text(document))
    body_words = [word for kind, _, words in blocks if kind != "heading" for word in words]
    for word in body_words:
        assert word in output_words
    headings = {" ".join(words) for kind, _, words in blocks if kind == "heading"}
    assert all(set(s.section_path) <= headings for s in document.sections)


# ---------- plain text ----------


def test_text_is_one_section_without_title() -> None:
    document = parse(ContentType.TEXT, b"Travel policy.\r\nBook economy.\r\n")
    assert document.title is None
    assert [s.text for s in document.sections] == ["Travel policy.\nBook economy."]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Caf\u00e9 na\u00efve".encode("utf-16"), "Caf\u00e9 na\u00efve"),
        (b"\xef\xbb\xbfWith a BOM", "With a BOM"),
        ("Smart \u201cquotes\u201d".encode("cp1252"), "Smart \u201cquotes\u201d"),
    ],
    ids=["utf-16", "utf-8-bom", "cp1252"],
)
def test_text_decoding(data: bytes, expected: str) -> None:
    assert parse(ContentType.TEXT, data).sections[0].text == expected


def test_undecodable_text_is_a_decode_error() -> None:
    assert failure(ContentType.TEXT, b"\x81\x00\x02 binary").code == "decode_error"


@pytest.mark.parametrize("content_type", [ContentType.TEXT, ContentType.MARKDOWN, ContentType.HTML])
def test_whitespace_only_is_no_text(content_type: ContentType) -> None:
    assert failure(content_type, b"  \n\t\r\n  ").code == "no_text"


@pytest.mark.parametrize("content_type", [ContentType.TEXT, ContentType.MARKDOWN, ContentType.HTML])
def test_control_characters_are_stripped(content_type: ContentType) -> None:
    data = b"Null\x00 bell\x07 escape\x1b tab\tkept\nline two\x0bvertical"
    text = all_text(parse(content_type, data))
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text)
    assert "Null bell escape" in text
    assert "line two" in text


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(content_type=st.sampled_from(list(ContentType)), data=st.binary(max_size=300))
def test_parse_raises_nothing_but_parse_failure(content_type: ContentType, data: bytes) -> None:
    outcome = _parse_or_failure(content_type, data)
    if isinstance(outcome, ParseFailure):
        assert re.fullmatch(r"[a-z_]+", outcome.code)
        assert outcome.message
    else:
        assert outcome.sections
        assert all("\x00" not in s.text and s.text.strip() for s in outcome.sections)


def _parse_or_failure(content_type: ContentType, data: bytes) -> ParsedDocument | ParseFailure:
    try:
        return parse(content_type, data)
    except ParseFailure as error:  # anything else propagates and fails the test
        return error


# ---------- package hygiene ----------


def test_importing_the_parsers_loads_no_vendor_library() -> None:
    code = (
        "import sys, docent.ingest.parsers, docent.ingest.sniff;"
        "print(sorted({'pypdf', 'docx', 'trafilatura', 'lxml'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_parsing_restores_warning_filters_and_logger_levels() -> None:
    filters, level = list(warnings.filters), logging.getLogger("pypdf").level
    failure(ContentType.PDF, b"%PDF-1.4\n garbage \n%%EOF")
    parse(ContentType.HTML, SECURITY_PAGE)
    assert (list(warnings.filters), logging.getLogger("pypdf").level) == (filters, level)
