"""HTML to Sections: trafilatura for the main content, the markup reader as fallback and judge."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from docent.ingest.parsers.cleanup import clean_line
from docent.ingest.parsers.encoding import bom_encoding, decode_text
from docent.ingest.parsers.markup import read_markup
from docent.ingest.parsers.outline import Outline
from docent.ingest.parsers.quiet import quiet_libraries
from docent.ingest.types import ParsedDocument, Section

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
# What browsers do (WHATWG encoding standard): a page that says Latin-1 or ASCII is read as
# Windows-1252, and a UTF-16 label in an ASCII-compatible page means UTF-8.
_CHARSET_ALIASES = {
    **dict.fromkeys(("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"), "cp1252"),
    **dict.fromkeys(("utf-16", "utf-16le", "utf-16be"), "utf-8"),
}
# Removed before trafilatura sees the page, so even its whole-page rescue pass cannot bring
# navigation back; mirrors what the markup reader drops.
_FURNITURE_XPATHS = [
    "//nav",
    "//aside",
    "//form",
    "//header[not(ancestor::article or ancestor::main or ancestor::section)]",
    "//footer[not(ancestor::article or ancestor::main or ancestor::section)]",
    "//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary']",
    "//*[@hidden or @aria-hidden='true']",
]
# Below this share of the markup reader's words, trafilatura is taken to have cut real content.
_MIN_WORD_SHARE = 1 / 3


def parse_html(data: bytes) -> ParsedDocument:
    """Title from <title> (else the first h1); sections by heading path from the main content."""
    html = decode_html(data)
    with quiet_libraries():
        title, first_h1, fallback = read_markup(html)
        extracted = _extract_main(html)
    return ParsedDocument(title=title or first_h1, sections=_choose(extracted, fallback))


def decode_html(data: bytes) -> str:
    """Honour a byte-order mark, then <meta charset>, then UTF-8 (Windows-1252 if that fails)."""
    if bom_encoding(data) is None:
        declared = _META_CHARSET.search(data[:4096])
        if declared:
            label = declared.group(1).decode("ascii").lower()
            try:
                return data.decode(_CHARSET_ALIASES.get(label, label), errors="replace")
            except LookupError:  # an unknown label, or a non-text codec such as "rot13"
                pass
    text = decode_text(data)
    return text if text is not None else data.decode("utf-8", errors="replace")


def _extract_main(html: str) -> list[Section] | None:
    """trafilatura's main-content extraction as Sections, or None when it has nothing to offer."""
    import trafilatura

    try:
        xml = trafilatura.extract(
            html,
            output_format="xml",
            include_tables=True,
            include_comments=False,
            favor_recall=True,
            prune_xpath=_FURNITURE_XPATHS,
        )
        # The XML is trafilatura's own serialisation (no DTD, no entities), not the uploaded bytes.
        root = ET.fromstring(xml) if xml else None  # noqa: S314
    except Exception:  # trafilatura/lxml failures just mean "use the fallback"
        return None
    main = root.find("main") if root is not None else None
    if main is None:
        return None
    outline = Outline()
    for element in main:
        if element.tag == "head":
            level = (element.get("rend") or "h2").lstrip("h")
            outline.heading(int(level) if level.isdigit() else 2, _text(element))
        else:
            outline.block(_block_text(element))
    return outline.sections()


def _block_text(element: ET.Element) -> str:
    if element.tag == "list":
        return "\n".join("- " + clean_line(_text(item)) for item in element.findall("item"))
    if element.tag == "table":
        rows = (
            " | ".join(clean_line(_text(cell)) for cell in row.iter("cell")) for row in element.iter("row")
        )
        return "\n".join(row for row in rows if row.strip(" |"))
    return _text(element)


def _text(element: ET.Element) -> str:
    """Text of an element with trafilatura's <lb/> line breaks kept (itertext would glue words)."""
    parts = [element.text or ""]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _choose(extracted: list[Section] | None, fallback: list[Section]) -> list[Section]:
    """Prefer trafilatura (it also drops furniture that is not marked up as such) unless it kept far
    less than the markup reader, or lost the heading structure (its plain whole-page rescue)."""
    if not extracted:
        return fallback
    if not fallback:
        return extracted
    if _words(extracted) < _MIN_WORD_SHARE * _words(fallback):
        return fallback
    if _has_headings(fallback) and not _has_headings(extracted):
        return fallback
    return extracted


def _words(sections: list[Section]) -> int:
    return sum(len(section.text.split()) for section in sections)


def _has_headings(sections: list[Section]) -> bool:
    return any(section.section_path for section in sections)
