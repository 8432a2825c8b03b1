"""The guard on a model's answer: pure. A reply holding a chat template's special tokens, an empty one, one
that repeats itself, or one whose citations are all invalid is not an answer: the provider counts as failed
for this question and the chain asks the next one (`UnusableAnswer` is a `ChatModelError`).

The guard sits between the marker rewriter and the reader. It releases nothing until the reply has cited a
passage of the prompt (so an answer citing nothing never starts), and then keeps the last `lag` characters
back, so that a special token or the second turn of a loop is caught before the reader sees it. A model
that abstains with the agreed sentence (`NOT_COVERED`) cites nothing and is let through whole at the end.
"""

from __future__ import annotations

import re
from collections import Counter

from docent.answer.citations import MARKER, normalize_space
from docent.answer.types import NOT_COVERED
from docent.llm.chat import ChatModelError

# Chat-template tokens a base or misconfigured model writes as text: ChatML `<|im_end|>`, Llama 3
# `<|eot_id|>`, DeepSeek's full-width bars, Llama 2 `[INST]` and `<<SYS>>`, Gemma's turns, `</s>` and kin.
SPECIAL_TOKEN = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|<\uff5c[^\uff5c<>]{1,40}\uff5c>|</?s>|<(?:eos|bos|pad|unk)>"
    r"|</?(?:start_of_turn|end_of_turn)>|\[/?INST\]|<</?SYS>>",
    re.IGNORECASE,
)
# The start of what may still grow into a special token at the end of the text seen so far.
_OPEN_TOKEN = re.compile(r"(?:<[^<>\s]{0,42}|\[/?I?N?S?T?)\Z", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_LOOP_MIN_CHARS = 40  # a repeated stretch shorter than this is style ("very, very, very"), not a loop
_LOOP_MAX_PERIOD = 400
_LOOP_REPEATS = 3
_SENTENCE_REPEATS = 3
_SENTENCE_MIN_WORDS = 4
_LOOP_CHECK_EVERY = 24  # characters; well below the guard's lag


class UnusableAnswer(ChatModelError):  # noqa: N818 - reads as what the reply is
    """The provider replied, but with something that must not reach the reader."""


def special_token(text: str) -> str | None:
    match = SPECIAL_TOKEN.search(text)
    return match.group() if match else None


def loops(text: str) -> bool:
    """Whether `text` repeats itself: it ends with one stretch (of at least 40 characters together) said
    three times in a row, or one sentence of four words or more appears three times."""
    plain = normalize_space(text)
    tail = plain[-_LOOP_REPEATS * _LOOP_MAX_PERIOD :]
    for period in range(1, min(_LOOP_MAX_PERIOD, len(tail) // _LOOP_REPEATS) + 1):
        if period * _LOOP_REPEATS < _LOOP_MIN_CHARS:
            continue
        unit = tail[-period:]
        if tail.endswith(unit * _LOOP_REPEATS):
            return True
    sentences = Counter(
        sentence.lower()
        for sentence in _SENTENCE_END.split(MARKER.sub("", plain))
        if len(sentence.split()) >= _SENTENCE_MIN_WORDS
    )
    return any(count >= _SENTENCE_REPEATS for count in sentences.values())


def is_abstention(text: str) -> bool:
    return normalize_space(text).startswith(NOT_COVERED)


class AnswerGuard:
    """`feed` each delta of the (marker-rewritten) reply and send what it returns; `finish` at the end
    returns the rest. Either raises `UnusableAnswer`. `cited` is told whether a valid marker appeared."""

    def __init__(self, *, lag: int = 200) -> None:
        self._lag = lag
        self._text = ""  # everything the model said so far (rewritten)
        self._released = 0  # how much of it the reader has been sent
        self._loop_checked = 0  # length of the text when it was last searched for a loop

    def feed(self, delta: str, *, cited: bool) -> str:
        self._text += delta
        self._check(final=False)
        if not cited:
            return ""
        held = _OPEN_TOKEN.search(self._text)
        end = min(len(self._text) - self._lag, held.start() if held else len(self._text))
        if end <= self._released:
            return ""
        ready = self._text[self._released : end]
        self._released = end
        return ready

    def finish(self, *, cited: bool) -> str:
        self._check(final=True)
        if not self._text.strip():
            raise UnusableAnswer("the model sent an empty answer")
        if not cited and not is_abstention(self._text):
            raise UnusableAnswer("the answer cites none of the passages it was given")
        rest = self._text[self._released :]
        self._released = len(self._text)
        return rest

    def _check(self, *, final: bool) -> None:
        token = special_token(self._text)
        if token is not None:
            raise UnusableAnswer(f"the answer holds the special token {token!r}")
        # Searching for a loop costs more than a delta's worth of text: it runs every few words instead.
        if final or len(self._text) - self._loop_checked >= _LOOP_CHECK_EVERY:
            self._loop_checked = len(self._text)
            if loops(self._text):
                raise UnusableAnswer("the answer repeats itself")
