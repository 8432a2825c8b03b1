"""A zip writer for hostile archives: every header field as we choose it, and huge members made cheaply.

zipfile cannot write a directory that lies about sizes, overlaps members or claims zip64 sizes, and
compressing gigabytes for real would take minutes; this writer takes raw member bytes and declared
values, and `repeated` builds a deflate stream of N copies of a block in milliseconds (each copy is
compressed once, ends on a full flush, and is repeated byte for byte).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

STORED, DEFLATED, BZIP2 = 0, 8, 12
_W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
PACKAGE_RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="word/document.xml" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    b"</Relationships>"
)
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
BODY_OPEN = b"<w:document " + _W + b"><w:body>"
BODY_CLOSE = b"</w:body></w:document>"


def paragraph(text: bytes, style: bytes | None = None) -> bytes:
    properties = b'<w:pPr><w:pStyle w:val="%s"/></w:pPr>' % style if style else b""
    return b"<w:p>" + properties + b"<w:r><w:t>" + text + b"</w:t></w:r></w:p>"


@dataclass
class Entry:
    name: str
    data: bytes  # the bytes stored, compressed or not
    size: int  # declared uncompressed size
    crc: int = 0
    method: int = DEFLATED
    flags: int = 0
    compressed: int | None = None  # declared compressed size (default: len(data))
    zip64: bool = False  # sizes in a zip64 extra field

    @property
    def declared_compressed(self) -> int:
        return len(self.data) if self.compressed is None else self.compressed


def deflated(name: str, content: bytes) -> Entry:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(content) + compressor.flush()
    return Entry(name, data, len(content), zlib.crc32(content))


def stored(name: str, content: bytes) -> Entry:
    return Entry(name, content, len(content), zlib.crc32(content), method=STORED)


def repeated(name: str, head: bytes, block: bytes, count: int, tail: bytes, *, crc: bool = True) -> Entry:
    """A member that inflates to head + block * count + tail, built without compressing the whole.
    `crc=False` leaves the checksum 0 (seconds saved on gigabytes that must never be inflated)."""
    segments = [_segment(head), _segment(block), _segment(tail)]
    final = zlib.compressobj(6, zlib.DEFLATED, -15).flush()
    data = segments[0] + segments[1] * count + segments[2] + final
    checksum = 0
    if crc:
        checksum = zlib.crc32(head)
        for _ in range(count):
            checksum = zlib.crc32(block, checksum)
        checksum = zlib.crc32(tail, checksum)
    return Entry(name, data, len(head) + len(block) * count + len(tail), checksum)


def _segment(content: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush(zlib.Z_FULL_FLUSH)


def docx_entries(document_xml: bytes | Entry) -> list[Entry]:
    """The three parts python-docx needs, with `document_xml` as the main document part."""
    document = (
        document_xml if isinstance(document_xml, Entry) else deflated("word/document.xml", document_xml)
    )
    return [deflated("[Content_Types].xml", CONTENT_TYPES), deflated("_rels/.rels", PACKAGE_RELS), document]


def docx(document_xml: bytes | Entry, *extra: Entry) -> bytes:
    return build_zip([*docx_entries(document_xml), *extra])


def build_zip(entries: list[Entry], *, shared_data: bool = False) -> bytes:
    """Local headers, data and a central directory as the entries declare them. `shared_data`: every
    entry after the first points its directory entry at the first entry's local header and data
    (an overlapping-files archive)."""
    out = bytearray()
    directory = bytearray()
    first_offset = 0
    for index, entry in enumerate(entries):
        offset = len(out)
        if shared_data and index > 0:
            offset = first_offset
        else:
            out += _header(b"PK\x03\x04", entry, local=True) + entry.data
        if index == 0:
            first_offset = offset
        directory += _header(b"PK\x01\x02", entry, local=False, offset=offset)
    start = len(out)
    out += directory
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), start, 0)
    return bytes(out)


def _header(signature: bytes, entry: Entry, *, local: bool, offset: int = 0) -> bytes:
    name = entry.name.encode("utf-8")
    flags = entry.flags | 0x800
    size, compressed = entry.size, entry.declared_compressed
    extra = b""
    if entry.zip64:
        extra = struct.pack("<2H2Q", 0x0001, 16, size, compressed)
        size = compressed = 0xFFFFFFFF
    if local:
        fixed = struct.pack(
            "<4s5H3L2H", signature, 45, flags, entry.method, 0, 0x21, entry.crc, compressed, size,
            len(name), len(extra),
        )  # fmt: skip
        return fixed + name + extra
    fixed = struct.pack(
        "<4s6H3L5H2L", signature, 45, 45, flags, entry.method, 0, 0x21, entry.crc, compressed, size,
        len(name), len(extra), 0, 0, 0, 0, offset,
    )  # fmt: skip
    return fixed + name + extra
