"""Cut parsed sections into token-bounded, overlapping chunks (pure: no I/O, no model).

The embedder's own tokenizer is passed in as `count_tokens`, so "fits" means "the model reads it whole".
Splitting is delegated to semchunk, which cuts at the most meaningful boundary available: paragraphs,
then sentences, then clauses, then words, then characters.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from docent.ingest.types import ChunkDraft, Section

DEFAULT_OVERLAP_TOKENS = 32

# Sections are joined with a paragraph break so semchunk prefers to cut between them.
_SECTION_JOINER = "\n\n"
_CONTEXT_JOINER = " > "
# Bound on the per-call memo of token counts; semchunk re-counts the same prefixes while it searches.
_COUNT_CACHE_SIZE = 16_384
# A section longer than this many characters per allowed token cannot fit, so it is not counted whole
# (tokenising a 10 MB text only to learn it is too long would be wasted work).
_FAST_PATH_CHARS_PER_TOKEN = 32

TokenCounter = Callable[[str], int]


def chunk_sections(
    sections: Sequence[Section],
    count_tokens: TokenCounter,
    *,
    max_tokens: int,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    title: str | None = None,
    contextual: bool = False,
) -> list[ChunkDraft]:
    """Chunks of at most `max_tokens` tokens, in document order, ordinals 0..n-1.

    - Every chunk's `token_count` is `count_tokens(chunk.text)` and never exceeds `max_tokens`.
    - A chunk never spans two locations: consecutive sections with the same `page` and `section_path`
      are merged first, and each merged run is chunked on its own, so chunks keep their location.
    - Consecutive chunks of one run share up to `overlap_tokens` tokens of whole words: the run is cut at
      `max_tokens - overlap_tokens`, and each chunk after the first is prefixed with the last words of
      the one before. The overlap is clamped to `max_tokens // 2`.
    - Chunk text is the original words in order with every run of whitespace made one space;
      chunks that are blank, or that the tokenizer reads as zero tokens, are dropped.
    - Chunk text is never changed by context. With `contextual`, each chunk's `context` is its
      document's `title` and its section path ("Title > Section > Subsection", a path element equal to
      the title left out), at most `max_tokens // 4` tokens, unless the chunk text already starts with
      it (the first chunk under a heading usually does); what is embedded and keyword-indexed is
      `ChunkDraft.indexed_text` (context, a line break, text), and the room it needs is kept free, so
      `count_tokens(indexed_text)` stays within `max_tokens` too (give or take the line break).

    Raises ValueError for impossible limits, including a tokenizer that counts a single character
    above `max_tokens`.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must not be negative, got {overlap_tokens}")
    overlap = min(overlap_tokens, max_tokens // 2)
    # A fresh memo per call: bounded, and freed with the call (semchunk's own memo is process-global).
    counter = cast(TokenCounter, functools.lru_cache(maxsize=_COUNT_CACHE_SIZE)(count_tokens))
    drafts: list[ChunkDraft] = []
    for page, path, text in _runs(sections):
        context = _context(title, path, counter, max_tokens // 4) if contextual else ""
        room = max_tokens - (counter(context) + 1 if context else 0)
        for piece, tokens in _chunk_run(text, counter, room, min(overlap, room // 2)):
            # A chunk that opens with its context already (the first under a heading) is not given it twice.
            told = "" if piece.startswith(context) else context
            drafts.append(ChunkDraft(len(drafts), piece, tokens, page=page, section_path=path, context=told))
    return drafts


def chunk_context(title: str | None, path: Sequence[str]) -> str:
    """ "Title > Section > Subsection": where a chunk sits, for what is embedded and keyword-indexed."""
    parts = [_normalise(title or "")]
    for heading in map(_normalise, path):
        if heading and heading.casefold() not in {p.casefold() for p in parts}:
            parts.append(heading)
    return _CONTEXT_JOINER.join(p for p in parts if p)


def _context(title: str | None, path: tuple[str, ...], counter: TokenCounter, budget: int) -> str:
    """The chunk context, cut to its first words that fit in `budget` tokens."""
    context = chunk_context(title, path)
    if not context or counter(context) <= budget:
        return context
    words = context.split(" ")
    low, high = 0, min(len(words), max(budget, 0))
    while low < high:
        middle = (low + high + 1) // 2
        if counter(" ".join(words[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]).removesuffix(_CONTEXT_JOINER.rstrip())


def _runs(sections: Sequence[Section]) -> Iterator[tuple[int | None, tuple[str, ...], str]]:
    """Merge consecutive sections that share a location; blank sections vanish (and so do not separate)."""
    filled = (s for s in sections if s.text and not s.text.isspace())
    for (page, path), group in itertools.groupby(filled, key=lambda s: (s.page, s.section_path)):
        yield page, path, _SECTION_JOINER.join(s.text for s in group)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _chunk_run(text: str, counter: TokenCounter, max_tokens: int, overlap: int) -> list[tuple[str, int]]:
    """Chunk one location's text; returns (text, token count) pairs."""
    if len(text) <= max_tokens * _FAST_PATH_CHARS_PER_TOKEN:
        whole = _normalise(text)
        tokens = counter(whole)
        if tokens <= max_tokens:
            return [(whole, tokens)] if tokens > 0 else []
    if overlap:
        try:
            pieces = _fit(text, counter, max_tokens - overlap, max_tokens - overlap)
            return _with_overlap(pieces, counter, max_tokens, overlap)
        except ValueError:
            pass  # a character does not fit in max_tokens - overlap: cut without overlap
    return _fit(text, counter, max_tokens, max_tokens)


def _with_overlap(
    pieces: list[tuple[str, int]], counter: TokenCounter, max_tokens: int, overlap: int
) -> list[tuple[str, int]]:
    """Start every chunk after the first with the last words (about `overlap` tokens) of the one before.

    Pieces are cut at `max_tokens - overlap` first, so the repeated words fit and chunks stay nearly
    full (semchunk's own overlap builds chunks of overlap-sized pieces, which leaves them half empty).
    """
    joined = [pieces[0]] if pieces else []
    for (previous, _), (text, tokens) in itertools.pairwise(pieces):
        tail = _tail(previous, counter, min(overlap, max_tokens - tokens))
        if tail:
            candidate = f"{tail} {text}"
            count = counter(candidate)
            if count <= max_tokens:
                joined.append((candidate, count))
                continue
        joined.append((text, tokens))
    return joined


def _tail(text: str, counter: TokenCounter, budget: int) -> str:
    """The longest run of whole last words of `text` that counts at most `budget` tokens."""
    words = text.split(" ")
    low, high = 0, min(len(words), max(budget, 0))  # a word is a token or more
    while low < high:
        middle = (low + high + 1) // 2
        if counter(" ".join(words[-middle:])) <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[-low:]) if low else ""


def _fit(text: str, counter: TokenCounter, max_tokens: int, budget: int) -> list[tuple[str, int]]:
    """semchunk at `budget`, then re-count each normalised chunk and re-split any that is over.

    semchunk bounds the pieces it counts, but a chunk is several pieces joined with their original
    separators, and normalising whitespace changes the text again; for tokenizers that are not additive
    over such joins the final count can be a token or two over. Those chunks are cut again at a budget
    shrunk in proportion to the excess until everything fits.
    """
    from semchunk.semchunk import chunk  # imported here: semchunk pulls in tqdm, ~0.1 s

    def guarded(piece: str) -> int:
        # semchunk recurses forever on a single character that counts over its budget (an emoji is
        # four tokens to a byte-level estimate). Claiming one token lets it emit that character; the
        # true count is checked below, so nothing over the limit gets through.
        return counter(piece) if len(piece) > 1 else min(counter(piece), 1)

    raw = cast(list[str], chunk(text, budget, guarded, memoize=False))
    fitted: list[tuple[str, int]] = []
    for piece in map(_normalise, raw):
        if not piece:
            continue
        tokens = counter(piece)
        if tokens <= max_tokens:
            if tokens > 0:
                fitted.append((piece, tokens))
        elif budget > 1:
            smaller = max(1, min(budget - 1, budget * max_tokens // tokens))
            fitted.extend(_fit(piece, counter, max_tokens, smaller))
        else:
            raise ValueError(f"cannot cut {piece[:40]!r} below {max_tokens} tokens with this tokenizer")
    return fitted
