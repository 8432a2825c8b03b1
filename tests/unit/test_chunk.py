"""The chunker: token bounds, coverage, order, overlap and locations, with toy and real tokenizers."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docent.config import Settings
from docent.ingest.chunk import DEFAULT_OVERLAP_TOKENS, chunk_sections
from docent.ingest.types import ChunkDraft, Section
from docent.llm.local_embedder import LocalEmbedder
from docent.llm.openai_embedder import estimate_tokens

Counter = Callable[[str], int]


def count_words(text: str) -> int:
    return len(text.split())


def count_chars(text: str) -> int:
    """Every character is a token, so long words must be cut inside."""
    return len(text)


def count_words_superadditive(text: str) -> int:
    """Joined pieces count more than their parts, which semchunk's overlap joins do not foresee."""
    words = len(text.split())
    return words + words * words // 16


def squash(text: str) -> str:
    return "".join(text.split())


def check_invariants(chunks: list[ChunkDraft], counter: Counter, max_tokens: int) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text.strip() == c.text and c.text
        assert " ".join(c.text.split()) == c.text  # whitespace normalised
        assert c.token_count == counter(c.text)
        assert 0 < c.token_count <= max_tokens


def stitch(chunks: list[ChunkDraft]) -> tuple[list[str], list[int]]:
    """The words of consecutive chunks with each overlap counted once, and the overlap sizes.

    Needs words that occur once in the document, so a chunk's first word locates the overlap.
    """
    words: list[str] = []
    overlaps: list[int] = []
    previous: list[str] = []
    for i, c in enumerate(chunks):
        current = c.text.split()
        same_run = i > 0 and (c.page, c.section_path) == (chunks[i - 1].page, chunks[i - 1].section_path)
        shared = 0
        if same_run and current[0] in previous:
            start = previous.index(current[0])
            shared = len(previous) - start
            assert current[:shared] == previous[start:], "an overlap must repeat the previous chunk's tail"
        if same_run:
            overlaps.append(shared)
        words.extend(current[shared:])
        previous = current
    return words, overlaps


# ---------- hypothesis: unique words, so order and overlap can be checked exactly ----------

LOCATIONS = [(None, ()), (1, ()), (1, ("Intro",)), (2, ("Intro",)), (2, ("Intro", "Scope"))]
SEPARATORS = [" ", "  ", "\n", "\n\n", "\n\n\n", "\t", ". ", ", ", "; ", "\n-"]


@st.composite
def documents(draw: st.DrawFn) -> list[Section]:
    sections: list[Section] = []
    next_word = 0
    for _ in range(draw(st.integers(0, 6))):
        location = draw(st.sampled_from(LOCATIONS))
        n_words = draw(st.integers(0, 120))
        parts = [draw(st.sampled_from(["", " ", "\n"]))]
        for i in range(n_words):
            if i:  # separators sit between words, so punctuation never stands alone
                parts.append(draw(st.sampled_from(SEPARATORS)))
            parts.append(f"w{next_word}")
            next_word += 1
        parts.append(draw(st.sampled_from(["", " ", "\n\n"])))
        sections.append(Section(text="".join(parts), page=location[0], section_path=location[1]))
    return sections


def located_words(sections: list[Section]) -> Iterator[tuple[str, int | None, tuple[str, ...]]]:
    for s in sections:
        for word in s.text.split():
            yield word, s.page, s.section_path


@settings(max_examples=300, deadline=None)
@given(documents(), st.integers(2, 60), st.integers(0, 40))
def test_chunks_cover_every_word_once_in_order_within_their_location(
    sections: list[Section], max_tokens: int, overlap_tokens: int
) -> None:
    chunks = chunk_sections(sections, count_words, max_tokens=max_tokens, overlap_tokens=overlap_tokens)

    check_invariants(chunks, count_words, max_tokens)
    expected = list(located_words(sections))
    location_of = {word: (page, path) for word, page, path in expected}
    for c in chunks:
        assert {location_of[w] for w in c.text.split()} == {(c.page, c.section_path)}
    words, overlaps = stitch(chunks)
    assert words == [word for word, _, _ in expected]
    effective = min(overlap_tokens, max_tokens // 2)
    for shared in overlaps:
        assert (1 <= shared <= effective) if effective else shared == 0


# (counter, the smallest max_tokens every single character fits in)
COUNTERS: list[tuple[Counter, int]] = [
    (count_words, 1),
    (count_chars, 1),
    (count_words_superadditive, 1),
    (estimate_tokens, 4),  # the remote embedders' estimate: up to 4 per character
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(max_size=300), max_size=5),
    st.sampled_from(COUNTERS),
    st.integers(0, 50),
    st.integers(0, 60),
)
def test_arbitrary_text_never_breaks_the_bounds(
    texts: list[str], counter_and_floor: tuple[Counter, int], extra: int, overlap_tokens: int
) -> None:
    counter, floor = counter_and_floor
    max_tokens = floor + extra
    sections = [Section(text=t, page=i % 2) for i, t in enumerate(texts)]

    chunks = chunk_sections(sections, counter, max_tokens=max_tokens, overlap_tokens=overlap_tokens)

    check_invariants(chunks, counter, max_tokens)
    if min(overlap_tokens, max_tokens // 2) == 0:
        # Without overlap, the chunks are the text itself, cut: nothing lost, nothing repeated.
        assert "".join(squash(c.text) for c in chunks) == "".join(squash(t) for t in texts)


# ---------- examples ----------


def test_blank_input_gives_no_chunks() -> None:
    assert chunk_sections([], count_words, max_tokens=10, overlap_tokens=2) == []
    blank = [Section(text=""), Section(text="  \n\t "), Section(text="\u3000\n", page=3)]
    assert chunk_sections(blank, count_words, max_tokens=10, overlap_tokens=2) == []


def test_small_sections_merge_only_within_one_location() -> None:
    sections = [
        Section(text="alpha beta", page=1, section_path=("A",)),
        Section(text="gamma", page=1, section_path=("A",)),
        Section(text="delta", page=2, section_path=("A",)),
        Section(text="epsilon", page=2, section_path=("B",)),
        Section(text="zeta", page=2, section_path=("B",)),
    ]

    chunks = chunk_sections(sections, count_words, max_tokens=50, overlap_tokens=5)

    assert [(c.text, c.page, c.section_path) for c in chunks] == [
        ("alpha beta gamma", 1, ("A",)),
        ("delta", 2, ("A",)),
        ("epsilon zeta", 2, ("B",)),
    ]


def test_same_location_apart_is_not_merged() -> None:
    sections = [Section(text="one", page=1), Section(text="two", page=2), Section(text="three", page=1)]

    chunks = chunk_sections(sections, count_words, max_tokens=50, overlap_tokens=0)

    assert [(c.text, c.page) for c in chunks] == [("one", 1), ("two", 2), ("three", 1)]


def test_title_is_not_put_into_chunks() -> None:
    chunks = chunk_sections([Section(text="body text")], count_words, max_tokens=10, title="The Title")

    assert [c.text for c in chunks] == ["body text"]


def test_the_default_overlap_is_the_one_used_and_the_setting_starts_at_it() -> None:
    section = Section(text=" ".join(f"Sentence {n} says something about topic {n}." for n in range(80)))

    by_default = chunk_sections([section], count_words, max_tokens=100)

    assert by_default == chunk_sections(
        [section], count_words, max_tokens=100, overlap_tokens=DEFAULT_OVERLAP_TOKENS
    )
    assert by_default != chunk_sections([section], count_words, max_tokens=100, overlap_tokens=0)
    assert Settings.model_fields["chunk_overlap_tokens"].default == DEFAULT_OVERLAP_TOKENS


@pytest.mark.parametrize(("max_tokens", "overlap_tokens"), [(0, 0), (-3, 0), (10, -1)])
def test_impossible_limits_are_refused(max_tokens: int, overlap_tokens: int) -> None:
    with pytest.raises(ValueError, match="tokens"):
        chunk_sections(
            [Section(text="a b")], count_words, max_tokens=max_tokens, overlap_tokens=overlap_tokens
        )


def test_a_long_section_is_split_on_sentence_boundaries_with_overlap() -> None:
    sentences = [f"Sentence {n} says something about topic {n}." for n in range(60)]
    section = Section(text=" ".join(sentences), page=4, section_path=("Results",))

    chunks = chunk_sections([section], count_words, max_tokens=60, overlap_tokens=10)

    assert len(chunks) > 3
    check_invariants(chunks, count_words, 60)
    assert all(c.text.endswith(".") for c in chunks), "cuts fall between sentences when sentences fit"
    for before, after in itertools.pairwise(chunks):
        first_sentence = after.text.split(". ")[0]
        assert first_sentence in before.text, "consecutive chunks share a sentence"
    assert all((c.page, c.section_path) == (4, ("Results",)) for c in chunks)


# ---------- the real tokenizer ----------

PARAGRAPHS = [
    "Retrieval-augmented generation grounds a language model's answer in passages fetched from a corpus. "
    "The quality of those passages depends on how documents are cut: too long, and the embedding blurs "
    "several topics; too short, and a passage loses the context that made it relevant.",
    "Tokenizers disagree about what a token is. WordPiece, used by BERT-style encoders, splits rare words "
    "into pieces prefixed with ##, while byte-level BPE merges frequent byte pairs. Counting with the "
    "model's own tokenizer is the only way to know that a chunk will be read whole.",
    "Quarterly figures: revenue 1,204,331.07 EUR (+8.2%), costs 987,112.50 EUR, headcount 412 → 431. "
    "Identifiers such as INV-2024-000183 and https://example.com/reports/2024/q3?format=pdf&lang=en "
    "cost many tokens for few characters.",
    "Chinese text has no spaces: 检索增强生成将语言模型的回答建立在从语料库中检索到的段落之上。"
    " Accents too: déjà vu, naïve café, Größe, Ærøskøbing.",
]


@pytest.fixture(scope="module")
def real_count() -> Counter:
    return LocalEmbedder().count_tokens  # loads only the tokenizer, not the model


REAL_MAX = 254  # all-MiniLM-L6-v2: 256 positions minus [CLS] and [SEP]; test_embedders checks it


def long_document(paragraphs: int) -> str:
    return "\n\n".join(f"({n}) " + PARAGRAPHS[n % len(PARAGRAPHS)] for n in range(paragraphs))


def test_real_tokenizer_chunks_fit_and_overlap(real_count: Counter) -> None:
    text = long_document(24)

    chunks = chunk_sections(
        [Section(text=text, page=2)], real_count, max_tokens=REAL_MAX, overlap_tokens=DEFAULT_OVERLAP_TOKENS
    )

    assert len(chunks) >= 4
    check_invariants(chunks, real_count, REAL_MAX)
    assert all(c.page == 2 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        shared = shared_words(before.text, after.text)
        assert shared, "each chunk opens with words the previous one ended with"
        assert real_count(shared) <= DEFAULT_OVERLAP_TOKENS
    assert _covers(chunks, text)


def shared_words(before: str, after: str) -> str:
    """The longest run of whole words that ends `before` and starts `after`."""
    first, second = before.split(), after.split()
    for k in range(min(len(first), len(second)), 0, -1):
        if first[-k:] == second[:k]:
            return " ".join(second[:k])
    return ""


def _covers(chunks: list[ChunkDraft], text: str) -> bool:
    """Every chunk is a piece of the text, and together, in order, they reach its end."""
    flat = squash(text)
    reached = 0
    for c in chunks:
        piece = squash(c.text)
        start = flat.find(piece, max(0, reached - len(piece)))
        if start < 0 or start > reached:
            return False
        reached = max(reached, start + len(piece))
    return reached == len(flat)


def test_real_tokenizer_without_overlap_keeps_every_character(real_count: Counter) -> None:
    text = long_document(16)

    chunks = chunk_sections([Section(text=text)], real_count, max_tokens=REAL_MAX, overlap_tokens=0)

    check_invariants(chunks, real_count, REAL_MAX)
    assert "".join(squash(c.text) for c in chunks) == squash(text)


def test_real_tokenizer_cuts_text_without_spaces(real_count: Counter) -> None:
    # Thousands of tokens without one space; not periodic, so each chunk's place in the text is unique.
    blob = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(100))
    cjk = "".join(chr(0x4E00 + n * 7919 % 20000) for n in range(900))
    sections = [Section(text=blob, page=1), Section(text=cjk, page=2)]

    chunks = chunk_sections(sections, real_count, max_tokens=REAL_MAX, overlap_tokens=16)

    check_invariants(chunks, real_count, REAL_MAX)
    assert {c.page for c in chunks} == {1, 2}
    assert _covers([c for c in chunks if c.page == 1], blob)
    assert _covers([c for c in chunks if c.page == 2], cjk)


def test_real_tokenizer_short_sections_stay_whole(real_count: Counter) -> None:
    sections = [Section(text=p, section_path=(f"H{i}",)) for i, p in enumerate(PARAGRAPHS)]

    chunks = chunk_sections(sections, real_count, max_tokens=REAL_MAX, overlap_tokens=32)

    assert [c.text for c in chunks] == [" ".join(p.split()) for p in PARAGRAPHS]
    assert [c.section_path for c in chunks] == [(f"H{i}",) for i in range(len(PARAGRAPHS))]


def test_a_tokenizer_that_cannot_fit_one_character_is_an_error() -> None:
    def two_per_character(text: str) -> int:
        return 2 * len(text)

    with pytest.raises(ValueError, match="cannot cut"):
        chunk_sections([Section(text="ab cd")], two_per_character, max_tokens=1, overlap_tokens=0)
