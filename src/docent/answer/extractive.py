"""The extractive answerer: no language model. It quotes the sentences of the retrieved chunks most likely
to hold the answer, each followed by its citation marker, or abstains when none is likely enough.

A sentence's score mixes three signals, each in [0, 1]: how much of the question's content it contains
(its terms, as the keyword index makes them, weighted by their rarity among the candidate sentences, so
the words every sentence shares count little), how close it is in meaning to the question (cosine of
embeddings, when an embedder is given), and how well its chunk ranked in retrieval (relative to the best
chunk). Pure apart from the embedder call.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from docent.answer.citations import MARKER, make_citation, normalize_space
from docent.answer.confidence import QUESTION_FILLERS
from docent.answer.followup import standalone_query
from docent.answer.types import NOT_COVERED, Answer, AnswerRequest, Citation, Passage, Turn, Usage
from docent.llm.caching import CachingEmbedder
from docent.llm.ports import Embedder
from docent.search.terms import analyze

# ---------- sentences ----------

# Words that end with a full stop without ending a sentence (compared lower-case, without the stop).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx ca c no nos fig figs vol vols "  # noqa: SIM905
    "pp p ed eds inc ltd co corp dept univ gen gov sen rep col lt capt sgt rev hon est jan feb "
    "mar apr jun jul aug sep sept oct nov dec u.s u.k u.n a.d b.c e.u ph.d op ibid art sec ch".split()
)
# A sentence may end at . ! ? (closing quotes or brackets may follow) when space and a capital, digit,
# opening quote or bracket come next; a blank line or a list item always starts a new one.
_CLOSERS = "\"'\u201d\u2019)\\]"  # straight and curly closing quotes, closing brackets
_OPENERS = "\"'\u201c\u2018(\\["
# Reference marks such as Wikipedia's "1066.[3]" may follow the stop.
_END = re.compile(
    f"(?P<stop>[.!?]+)[{_CLOSERS}]*(?:\\[[0-9]{{1,3}}\\])*"
    f"(?=\\s+[{_OPENERS}]?[A-Z0-9\u00c0-\u00d6\u00d8-\u00de])"
)
_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•·]|\d{1,3}[.)])\s)")
_LINE = re.compile(r"[^\n]+")
_LIST_ITEM = re.compile(r"\s*(?:[-*•·]|\d{1,3}[.)])\s")
_HEADING_WORDS = 10
_SHORT_HEADING_WORDS = 4
_WORD_BEFORE = re.compile(r"([\w.]+)\Z")
_MIN_SENTENCE_CHARS = 2


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the stop (. ! ?) that ends at `end` closes a sentence (not an abbreviation or an initial)."""
    if text[end - 1] in "!?":
        return True
    # Only the word just before matters; looking at a short window keeps long texts linear.
    match = _WORD_BEFORE.search(text, max(0, end - 64), end)
    if match is None:
        return True
    word = match.group(1).lower().rstrip(".")
    if word in ABBREVIATIONS:
        return False
    # An initial ("John F. Kennedy") or a dotted acronym ("U.S.A.") keeps the sentence going.
    return not (len(word) == 1 and word.isalpha()) and not re.fullmatch(r"(?:[a-z]\.)+[a-z]", word)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentences of `text` as (start, end) offsets, surrounding whitespace excluded, in order."""
    cuts = [0]
    for match in _END.finditer(text):
        if _ends_sentence(text, match.end("stop")):
            cuts.append(match.end())
    cuts.extend(match.start() for match in _BREAK.finditer(text))
    for start, end in heading_lines(text):  # a heading never runs into the sentence below it
        cuts.extend((start, end))
    cuts.append(len(text))
    spans: list[tuple[int, int]] = []
    for start, end in zip(sorted(cuts), sorted(cuts)[1:], strict=False):
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start >= _MIN_SENTENCE_CHARS:
            spans.append((start, end))
    return spans


def heading_lines(text: str) -> list[tuple[int, int]]:
    """Lines of `text` that read as headings, as (start, end) without surrounding spaces: up to ten words,
    no list item, no closing punctuation, and either marked (`#`) or followed by a line that starts anew
    (a capital or a digit) while being short or in Title Case. A sentence a PDF broke over two lines
    continues in lower case, or ends its first line with a small word, so it stays one sentence."""
    found = []
    for match in _LINE.finditer(text):
        line = match.group()
        words = line.split()
        if (
            not words
            or len(words) > _HEADING_WORDS
            or _LIST_ITEM.match(line)
            or line.rstrip()[-1] in ".!?:;,"
        ):
            continue
        start = match.start() + len(line) - len(line.lstrip())
        end = match.start() + len(line.rstrip())
        if line.lstrip().startswith("#"):
            found.append((start, end))
            continue
        after = text[match.end() :].lstrip()
        if not after or not (after[0].isupper() or after[0].isdigit()):
            continue
        title_case = all(w[0].isupper() or not w[0].isalpha() or len(w) <= 3 for w in words)
        if len(words) <= _SHORT_HEADING_WORDS or title_case:
            found.append((start, end))
    return found


def passage_sentences(passage: Passage) -> list[tuple[int, int]]:
    """The sentences of a passage worth quoting: no heading line, and not the heading its chunk opens
    with. Chunk text has its line breaks made spaces, so "Expenses Expense claims must…" is told apart
    by the chunk's section path: a path element opening the text, followed by a new sentence (a capital
    or a digit), is a heading."""
    text = passage.text
    lead = len(text) - len(text.lstrip())
    for heading in passage.section:
        heading = normalize_space(heading)
        rest = text[lead + len(heading) :]
        if heading and text.startswith(heading, lead) and rest[:1].isspace():
            after = rest.lstrip()
            if after[:1].isupper() or after[:1].isdigit():
                lead += len(heading) + len(rest) - len(after)
    headings = set(heading_lines(text))
    spans = []
    for start, end in split_sentences(text):
        if (start, end) in headings or end <= lead:
            continue
        spans.append((max(start, lead), end))
    return spans


def is_heading(text: str, start: int, end: int) -> bool:
    """Whether the sentence `text[start:end]` is a heading line (not worth quoting on its own)."""
    return any(start == h_start and end == h_end for h_start, h_end in heading_lines(text))


# ---------- scoring ----------


@dataclass(frozen=True)
class Weights:
    """How much each signal counts; without an embedder the semantic share goes to the other two.

    The defaults come from the SQuAD 2.0 dev subset in `../shared/data` (gold paragraph as the only
    passage): lexical:semantic from 1:0 to 0:1 found the sentence holding the answer first for 86% to 81%
    of the answerable questions, with a flat top of about 87.5% between 4:1 and 2:1.
    """

    lexical: float = 0.6
    semantic: float = 0.3
    retrieval: float = 0.1


@dataclass(frozen=True)
class ScoredSentence:
    passage: int  # index into the passages given
    start: int
    end: int
    score: float


def _lexical(question: Sequence[str], sentences: Sequence[set[str]]) -> list[float]:
    """Share of the question's term weight that each sentence contains. A term weighs by its rarity among
    the candidate sentences (a term in every sentence says little about which one answers); a question
    term found in no sentence weighs most, so that missing the question's key word lowers every score."""
    frequency: Counter[str] = Counter()
    for terms in sentences:
        frequency.update(terms)
    total = len(sentences)
    weights = {term: math.log(1 + total / (1 + frequency[term])) for term in question}
    question_weight = sum(weights.values())
    if question_weight == 0:
        return [0.0] * len(sentences)
    return [sum(w for term, w in weights.items() if term in terms) / question_weight for terms in sentences]


SENTENCE_VECTORS_KEPT = 20_000
SUPPORT_PASSAGES = 3  # the sentences `sentence_support` reads: those of the first three passages


class Embeds(Protocol):
    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


def _semantic(question: str, texts: Sequence[str], embedder: Embeds) -> list[float]:
    vectors = embedder.embed([question, *texts])
    similarity = vectors[1:] @ vectors[0]
    return [float(value) for value in np.clip(similarity, 0.0, 1.0)]


def score_sentences(
    question: str,
    passages: Sequence[Passage],
    embedder: Embeds | None = None,
    weights: Weights | None = None,
) -> list[ScoredSentence]:
    """Every sentence of `passages`, scored in [0, 1], best first."""
    weights = weights or Weights()
    spans: list[tuple[int, int, int]] = []
    for index, passage in enumerate(passages):
        spans.extend((index, a, b) for a, b in passage_sentences(passage))
    if not spans:
        return []
    texts = [normalize_space(passages[index].text[start:end]) for index, start, end in spans]
    lexical = _lexical(list(dict.fromkeys(analyze(question))), [set(analyze(t)) for t in texts])
    best_retrieval = max(p.score for p in passages)
    retrieval = [
        max(0.0, passages[i].score / best_retrieval) if best_retrieval > 0 else 0.0 for i, _, _ in spans
    ]
    if embedder is not None:
        semantic = _semantic(question, texts, embedder)
        share = weights
    else:
        semantic = [0.0] * len(texts)
        rest = weights.lexical + weights.retrieval
        share = Weights(weights.lexical / rest, 0.0, weights.retrieval / rest)
    scored = [
        ScoredSentence(index, start, end, share.lexical * lex + share.semantic * sem + share.retrieval * ret)
        for (index, start, end), lex, sem, ret in zip(spans, lexical, semantic, retrieval, strict=True)
    ]
    return sorted(scored, key=lambda s: -s.score)


def best_snippet(text: str, claim: str) -> str:
    """The sentence of `text` sharing most content with `claim` (what an LLM answer's marker quotes)."""
    spans = split_sentences(text)
    if not spans:
        return normalize_space(text)
    wanted = set(analyze(claim))
    start, end = max(spans, key=lambda span: len(wanted & set(analyze(text[span[0] : span[1]]))))
    return normalize_space(text[start:end])


# ---------- text that addresses the assistant ----------

# Sentences that give orders to an AI ("ignore previous instructions", "you are an assistant", "system
# prompt") answer no one's question: they are a document trying to steer the answer. Ordinary documents
# (a handbook, a policy) almost never speak this way.
_ADDRESSES_THE_ASSISTANT = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|of\s+|the\s+)*(?:previous|prior|above|earlier|"
    r"preceding|system|all|any|your|these|those|my)\s+(?:instructions?|rules|prompts?|directions|guidelines)\b"
    r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:ai|assistant|language\s+model|chat\s*bot|llm|docent)\b"
    r"|\b(?:system|hidden|initial)\s+prompt\b|\bnew\s+instructions\b|\bas\s+an?\s+(?:ai|language\s+model)\b"
    r"|\b(?:ai|assistant|language\s+model|llm|chat\s*bot)s?\s+(?:must|should|shall|will)\s+"
    r"(?:always|never|only|now)\b",
    re.IGNORECASE,
)
INSTRUCTION_FACTOR = 0.25  # a sentence that addresses the assistant keeps a quarter of its score
NEIGHBOUR_FACTOR = 0.5  # the rest of its passage half: one that copies the question still loses
# A sentence the previous answer quoted keeps this share of its score in a follow-up's answer (see `select`):
# 0.5, 0.7 and 0.85 tried on bench/follow_ups.py's tune set: 8, 10 and 9 of its 14 answers hold the answer.
REPEAT_FACTOR = 0.7


def demote_instructions(scored: list[ScoredSentence], passages: Sequence[Passage]) -> list[ScoredSentence]:
    """`scored` with sentences that address an AI, and their passages' other sentences, scored lower, best
    first: between a passage that answers and one that talks to the assistant, the first is quoted."""
    flagged = {
        (s.passage, s.start)
        for s in scored
        if _ADDRESSES_THE_ASSISTANT.search(passages[s.passage].text[s.start : s.end])
    }
    if not flagged:
        return scored
    poisoned = {index for index, _ in flagged}

    def factor(s: ScoredSentence) -> float:
        if (s.passage, s.start) in flagged:
            return INSTRUCTION_FACTOR
        return NEIGHBOUR_FACTOR if s.passage in poisoned else 1.0

    demoted = [ScoredSentence(s.passage, s.start, s.end, s.score * factor(s)) for s in scored]
    return sorted(demoted, key=lambda s: -s.score)


# ---------- the answerer ----------

_PIECE = re.compile(r"\S+\s*")
_SNIPPET_CHARS = 400
_TERMINAL = re.compile(f"([.!?]+[{_CLOSERS}]*)\\Z")


def with_marker(sentence: str, number: int) -> str:
    """The sentence with `[number]` before its final punctuation ("… in 1066 [1].")."""
    match = _TERMINAL.search(sentence)
    if match is None:
        return f"{sentence} [{number}]"
    return f"{sentence[: match.start()]} [{number}]{match.group(1)}"


def pieces(text: str) -> Iterator[str]:
    """`text` cut into word-sized deltas (each word with the spaces after it), as a model would stream."""
    for match in _PIECE.finditer(text):
        yield match.group()


def in_reading_order(chosen: Sequence[ScoredSentence]) -> list[ScoredSentence]:
    """The sentences grouped by chunk (the chunk of the best sentence first), each chunk's in its order."""
    first_seen = {s.passage: rank for rank, s in reversed(list(enumerate(chosen)))}
    return sorted(chosen, key=lambda s: (first_seen[s.passage], s.start))


def quote(passages: Sequence[Passage], chosen: Sequence[ScoredSentence]) -> tuple[str, tuple[Citation, ...]]:
    """The sentences as an answer, each followed by the marker of its chunk; one citation per chunk (its
    snippet the chunk's text from its first quoted sentence to its last, or the first when that is long)."""
    numbers: dict[int, int] = {}
    parts: list[str] = []
    for sentence in chosen:
        number = numbers.setdefault(sentence.passage, len(numbers) + 1)
        quoted = normalize_space(passages[sentence.passage].text[sentence.start : sentence.end])
        # The document's own bracketed numbers ("… in 1066.[3]") would read as markers of this answer.
        parts.append(with_marker(normalize_space(MARKER.sub("", quoted)) or quoted, number))
    citations = []
    for index, number in numbers.items():
        mine = [s for s in chosen if s.passage == index]
        text = passages[index].text
        snippet = text[min(s.start for s in mine) : max(s.end for s in mine)]
        if len(snippet) > _SNIPPET_CHARS:  # sentences far apart: the first one quoted stands for them
            snippet = text[mine[0].start : mine[0].end]
        citations.append(make_citation(number, passages[index], snippet))
    return " ".join(parts), tuple(citations)


class ExtractiveAnswerer:
    """Answers by quoting at most `max_sentences` of the best sentences of the first `passages_considered`
    passages, or abstains when the best sentence scores below `min_score`. A second sentence is added
    only when it scores at least `second_ratio` times the best. Never fails, so it ends every chain."""

    provider = "extractive"

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        min_score: float = 0.3,
        max_sentences: int = 2,
        second_ratio: float = 0.9,
        passages_considered: int = 5,
        weights: Weights | None = None,
    ) -> None:
        if max_sentences < 1 or passages_considered < 1:
            raise ValueError("max_sentences and passages_considered must be at least 1")
        self._embedder = embedder
        # Sentences quoted again (the documents people ask about most, follow-ups) cost no embedding.
        self._sentences = CachingEmbedder(embedder, SENTENCE_VECTORS_KEPT) if embedder is not None else None
        self._min_score = min_score
        self._max_sentences = max_sentences
        self._second_ratio = second_ratio
        self._considered = passages_considered
        self._weights = weights or Weights()

    @property
    def model(self) -> str:
        return "sentences" if self._embedder is None else f"sentences+{self._embedder.model_id}"

    def select(self, question: str, passages: Sequence[Passage], said: str = "") -> list[ScoredSentence]:
        """The sentences the answer quotes, in reading order; empty when it should abstain. `said` is the
        previous answer of the conversation: a follow-up asks for something new, so a sentence it already
        quoted keeps `REPEAT_FACTOR` of its score and is never quoted again beside a better one."""
        scored = score_sentences(question, passages[: self._considered], self._sentences, self._weights)
        scored = demote_instructions(scored, passages)
        repeated: set[tuple[int, int]] = set()
        if said:
            said = normalize_space(MARKER.sub("", said))  # the markers sit before the full stops
            for s in scored:
                sentence = normalize_space(MARKER.sub("", passages[s.passage].text[s.start : s.end]))
                if sentence.rstrip(".!?;:") in said:
                    repeated.add((s.passage, s.start))
            scored = sorted(
                (
                    replace(s, score=s.score * REPEAT_FACTOR) if (s.passage, s.start) in repeated else s
                    for s in scored
                ),
                key=lambda s: -s.score,
            )
        if not scored or scored[0].score < self._min_score:
            return []
        best = scored[0]
        chosen = [best]
        seen = {normalize_space(passages[best.passage].text[best.start : best.end])}
        for candidate in scored[1:]:
            if len(chosen) >= self._max_sentences or candidate.score < self._second_ratio * best.score:
                break
            text = normalize_space(passages[candidate.passage].text[candidate.start : candidate.end])
            if text not in seen and (candidate.passage, candidate.start) not in repeated:
                chosen.append(candidate)  # the same sentence in two overlapping chunks is said once
                seen.add(text)
        return in_reading_order(chosen)

    def sentence_support(self, question: str, passages: Sequence[Passage]) -> float:
        """The confidence's `sentence` signal: over the sentences of the first passages, the best mean of a
        sentence's cosine to `question` (0 without an embedder) and the share of the question's content
        term weight it holds (`_lexical`: a term weighs more the rarer it is among these sentences)."""
        texts = [
            normalize_space(p.text[start:end])
            for p in passages[:SUPPORT_PASSAGES]
            for start, end in passage_sentences(p)
        ]
        if not texts:
            return 0.0
        wanted = [term for term in dict.fromkeys(analyze(question)) if term not in QUESTION_FILLERS]
        lexical = _lexical(wanted, [set(analyze(text)) for text in texts])
        semantic = [0.0] * len(texts)
        if self._sentences is not None:
            vectors = self._sentences.embed([question, *texts])
            semantic = [float(value) for value in vectors[1:] @ vectors[0]]
        return max(0.5 * sem + 0.5 * lex for sem, lex in zip(semantic, lexical, strict=True))

    def answer(self, request: AnswerRequest) -> Answer:
        said = next((turn.text for turn in reversed(request.history) if turn.role == "assistant"), "")
        chosen = self.select(request.question, request.passages, said)
        if not chosen:
            return Answer(NOT_COVERED, (), Usage(), self.provider, self.model, abstained=True)
        text, citations = quote(request.passages, chosen)
        return Answer(text, citations, Usage(), self.provider, self.model)

    def stream(self, request: AnswerRequest) -> Generator[str, None, Answer]:
        """The answer word by word, like a model's stream; the finished `Answer` is the return value."""
        answer = self.answer(request)
        yield from pieces(answer.text)
        return answer

    def ceiling(self, request: AnswerRequest, *, passages_later: bool = False) -> Usage:
        """No model, no tokens."""
        return Usage()

    def rewrite(self, question: str, history: Sequence[Turn]) -> str:
        """Follow-ups keep their own words and borrow the earlier question's missing ones (no model)."""
        return standalone_query(question, history)
