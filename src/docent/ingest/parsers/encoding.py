"""Turning bytes into text: byte-order marks first, then UTF-8, then Windows-1252 as a last resort."""

from __future__ import annotations

import codecs
import re

# Longest BOM first: the UTF-32 LE mark starts with the UTF-16 LE mark.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# C0 controls a text file would not contain (tab, LF, CR and form feed are ordinary), plus DEL.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def bom_encoding(data: bytes) -> str | None:
    """The codec named by a byte-order mark at the start of `data`, if there is one."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding
    return None


def decode_text(data: bytes, *, complete: bool = True) -> str | None:
    """Decode `data` as text, or return None when it is not text in an encoding we accept.

    With `complete=False` the bytes are a prefix of a longer file, so a multi-byte character cut
    at the end is not an error. Windows-1252 decodes almost any byte string, so it is tried only
    when the bytes hold no control characters; otherwise binary junk would pass as text.
    """
    encoding = bom_encoding(data)
    try:
        return _decode(data, encoding or "utf-8", complete)
    except UnicodeDecodeError:
        if encoding is not None or _CONTROL_BYTES.search(data):
            return None
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # cp1252 leaves five byte values undefined
        return None


def _decode(data: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    return decoder.decode(data, final=complete)
