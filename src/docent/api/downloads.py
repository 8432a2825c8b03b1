"""The `Content-Disposition` of a file Docent serves: a name a browser shows and saves safely (RFC 6266)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from docent.types import display_text

_NOT_PLAIN_ASCII = re.compile(r"[^A-Za-z0-9._() -]+")


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) with an ASCII `filename` for old clients and the full name, controls and
    bidi overrides removed, as `filename*=UTF-8''…`, which every current browser prefers."""
    shown = display_text(filename) or "download"
    unaccented = "".join(c for c in unicodedata.normalize("NFKD", shown) if not unicodedata.combining(c))
    fallback = _NOT_PLAIN_ASCII.sub("_", unaccented).strip(" ._") or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(shown, safe='')}"
