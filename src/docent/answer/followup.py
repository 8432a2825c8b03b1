"""A follow-up made standalone without a model: pure.

Gluing the earlier question in front of the follow-up made retrieval find the earlier answer again: the
earlier question's words outnumbered the new ones. Here the follow-up keeps all of its own content words
and only borrows, from the earlier question (itself made standalone first), the content words it lacks:
what "it", "that" or "there" stood for. When the follow-up names something of its own in place of an
earlier name ("What about Canada?" after a question about North America), the earlier names stay behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docent.answer.confidence import QUESTION_FILLERS
from docent.answer.prompt import DEICTIC, is_follow_up, salient_phrase
from docent.answer.types import Turn
from docent.search.terms import analyze

_LEAD = re.compile(r"^\s*(?:and|but|also|so|ok(?:ay)?|then)\b[\s,]*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
_MAX_CARRIED_WORDS = 8


def _names(words: Sequence[str]) -> list[str]:
    """Words written with a capital (or digits) that are not the first word: names, places, figures."""
    return [w for w in words[1:] if w[0].isupper() or w[0].isdigit()]


def standalone_query(question: str, history: Sequence[Turn]) -> str:
    """The follow-up with the earlier question's missing content words after it, in brackets ("What if
    the claim is older than that? (submit expense)"); any other question unchanged."""
    question = question.strip()
    if not is_follow_up(question, history):
        return question
    last = max(i for i, turn in enumerate(history) if turn.role == "user")
    earlier = standalone_query(history[last].text, history[:last])
    own_words = _WORD.findall(question)
    own_terms = set(analyze(question))
    points_back = any(word.lower() in DEICTIC for word in own_words)
    replaces_names = bool(_names(own_words)) and not points_back
    carried: list[str] = []
    seen: set[str] = set()
    earlier_words = _WORD.findall(salient_phrase(earlier) or earlier)
    earlier_names = set(_names(["", *earlier_words]))
    for word in earlier_words:
        terms = analyze(word)
        if not terms or terms[0] in own_terms or terms[0] in QUESTION_FILLERS or terms[0] in seen:
            continue
        if replaces_names and word in earlier_names:
            continue
        seen.add(terms[0])
        carried.append(word)
    core = _LEAD.sub("", question) or question
    core = core[0].upper() + core[1:]
    if not carried:
        return core
    return f"{core} ({' '.join(carried[:_MAX_CARRIED_WORDS])})"
