"""Questions from chat clients, which send far more than a question: Open WebUI and LibreChat ask for
titles and tags with a prompt that holds the whole conversation, people paste a document and ask about it
at the end. Such a message is not refused; what is kept is its end, where the question usually is: as many
whole paragraphs as fit, or, when even the last paragraph is too long, its end cut at a sentence or word
boundary so no word is broken. Pure: no I/O."""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n\s*\n")
_WITHIN_PARAGRAPH = (re.compile(r"(?<=[.!?])\s+"), re.compile(r"\s+"))


def cut_question(text: str, limit: int) -> str:
    """`text` stripped if it fits in `limit` characters; else the longest tail of it that starts at a
    paragraph and fits; else its last `limit` characters at most, starting after the first sentence end
    (else space) in that window's first half."""
    text = text.strip()
    if len(text) <= limit:
        return text
    for start in (match.end() for match in _PARAGRAPH.finditer(text)):
        if len(text) - start <= limit:
            return text[start:].strip()
    window = text[-limit:]
    for boundary in _WITHIN_PARAGRAPH:
        found = boundary.search(window, 0, limit // 2)
        if found is not None and window[found.end() :].strip():
            return window[found.end() :].strip()
    return window.strip()
