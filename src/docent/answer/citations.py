"""Citation markers and snippets: pure.

A model cites passage n of its prompt with `[n]` (also `[n, m]`). Before any text reaches the reader,
`MarkerRewriter` drops markers that point at no passage and renumbers the rest 1, 2, … in order of first
use, so the answer's markers are exactly the citations listed, in order. It works on a stream of deltas
(holding back only what may still become a marker), and gives the same text however the reply is cut.
`build_citations` then makes one citation per marker, with a snippet checked to be text of its chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from docent.answer.types import Citation, Passage

# At most six numbers inside one pair of brackets, so a marker is never longer than the tail held back.
MARKER = re.compile(r"(\s*)\[([0-9]{1,4}(?:, ?[0-9]{1,4}){0,5})\]")
# A tail that may still grow into a marker: spaces, then "[" and up to 40 digits, commas and spaces.
_OPEN_TAIL = re.compile(r"\s*(?:\[[0-9, ]{0,40})?\Z")
_CLAIM_END = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")
_SNIPPET_FALLBACK_CHARS = 240

SnippetPicker = Callable[[str, str], str]
"""(chunk text, the answer's claim that cites it) -> a passage of the chunk text to quote."""


def normalize_space(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def snippet_in(snippet: str, text: str) -> bool:
    """Whether `snippet` is text of `text`, whitespace aside (a PDF chunk breaks lines where a quote does
    not). An empty snippet quotes nothing, so it does not count."""
    wanted = normalize_space(snippet)
    return bool(wanted) and wanted in normalize_space(text)


def marker_numbers(text: str) -> list[int]:
    """The numbers the markers of `text` cite, each once, in order of first appearance."""
    seen: dict[int, None] = {}
    for match in MARKER.finditer(text):
        for part in match.group(2).split(","):
            seen.setdefault(int(part), None)
    return list(seen)


class MarkerRewriter:
    """Rewrites a reply's markers as it streams: `feed` each delta, then `flush` once at the end.

    `sources` is how many passages the prompt numbered (1..sources). After the run, `used[k - 1]` is the
    prompt number of the passage that marker `[k]` of the output cites.
    """

    def __init__(self, sources: int) -> None:
        self._sources = sources
        self._pending = ""
        self._numbers: dict[int, int] = {}  # prompt number -> output number

    @property
    def used(self) -> tuple[int, ...]:
        return tuple(self._numbers)

    def feed(self, delta: str) -> str:
        self._pending += delta
        # Hold back the tail that may still become a marker (with the spaces before it, which a dropped
        # marker takes along); everything before it is final.
        tail = _OPEN_TAIL.search(self._pending)
        cut = tail.start() if tail is not None else len(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._rewrite(ready)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._rewrite(rest)

    def _rewrite(self, text: str) -> str:
        return MARKER.sub(self._replace, text)

    def _replace(self, match: re.Match[str]) -> str:
        numbers: list[int] = []
        for part in match.group(2).split(","):
            prompt_number = int(part)
            if not 1 <= prompt_number <= self._sources:
                continue
            number = self._numbers.setdefault(prompt_number, len(self._numbers) + 1)
            if number not in numbers:
                numbers.append(number)
        if not numbers:
            return ""
        return " " + "".join(f"[{number}]" for number in numbers)


def rewrite_markers(text: str, sources: int) -> tuple[str, tuple[int, ...]]:
    """The whole-text form of `MarkerRewriter`: the rewritten text and `used`."""
    rewriter = MarkerRewriter(sources)
    text = rewriter.feed(text) + rewriter.flush()
    return text, rewriter.used


def claims(text: str) -> dict[int, str]:
    """For each marker number, the claim it backs where it first appears: the sentence the marker closes
    (so a marker set after the full stop, "… capital. [1]", backs the sentence before it), markers removed."""
    found: dict[int, str] = {}
    for match in MARKER.finditer(text):
        before = normalize_space(MARKER.sub(" ", text[: match.start()]))
        claim = _CLAIM_END.split(before)[-1]
        for part in match.group(2).split(","):
            found.setdefault(int(part), claim)
    return found


def fallback_snippet(text: str) -> str:
    """The start of the chunk, cut at a word boundary: always text of the chunk."""
    plain = normalize_space(text)
    if len(plain) <= _SNIPPET_FALLBACK_CHARS:
        return plain
    cut = plain.rfind(" ", 0, _SNIPPET_FALLBACK_CHARS)
    return plain[: cut if cut > 0 else _SNIPPET_FALLBACK_CHARS]


def make_citation(number: int, passage: Passage, snippet: str) -> Citation:
    """A citation of `passage` quoting `snippet`, or the chunk's opening words when the snippet is not
    text of the chunk: what a citation quotes is checked here, not trusted."""
    quoted = normalize_space(snippet) if snippet_in(snippet, passage.text) else fallback_snippet(passage.text)
    return Citation(
        number=number,
        chunk_id=passage.chunk_id,
        document_id=passage.document_id,
        title=passage.title,
        version=passage.version,
        page=passage.page,
        section=passage.section,
        snippet=quoted,
        score=passage.score,
    )


def build_citations(text: str, cited: Sequence[Passage], pick_snippet: SnippetPicker) -> tuple[Citation, ...]:
    """One citation for each marker of `text`, in marker order; `cited[k - 1]` is what `[k]` cites (as
    `MarkerRewriter.used` gives). A marker with no passage behind it raises ValueError: the rewriter must
    have run first."""
    stated = claims(text)
    citations = []
    for number in marker_numbers(text):
        if not 1 <= number <= len(cited):
            raise ValueError(f"marker [{number}] cites none of the {len(cited)} passages")
        passage = cited[number - 1]
        citations.append(make_citation(number, passage, pick_snippet(passage.text, stated[number])))
    return tuple(citations)
