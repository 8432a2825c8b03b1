"""Candidate confidence signals, computed from the rows `bench/confidence.py --signals` keeps (no retrieval).

Each row holds the question, its first passages (text, cosine, vector rank, keyword rank), the scores of
the vector and the keyword rankings 100 deep, and the document frequency of the question's terms among all
chunks (as the keyword index counts them). From those, the signals tried against the product's `sentence`:

* corpus-IDF coverage: the share of the question's content-term IDF weight (IDF over the whole corpus, as
  the keyword index has it, not over the local sentences) found in the best passage (`idf_first`), in one of
  the first three (`idf_top3`), or in one sentence of those (`idf_sentence`);
* `bm25_share`: the first keyword score over the query's largest attainable one, sum of IDF(t) x (k1 + 1)
  over its terms (a raw BM25 score is not comparable across corpora, this share is);
* the query's own score distribution: the best cosine as a z-score against the other candidates'
  (`cosine_z`), its gap to the 2nd, 5th and 10th (`cosine_margin`, `cosine_gap5`, `cosine_gap10`), the
  same z-score for the keyword ranking (`keyword_z`), and the second keyword score over the first
  (`keyword_ratio`);
* rare terms: the share of the question's two rarest content terms (by corpus IDF) in the best passage
  (`rare_first`) or in one of the first three (`rare_top3`), and of its numbers, acronyms and capitalised
  words found in the first three (`marked_top3`, 1 when it has none);
* `cosine`, `vector_agrees`, `keyword_agrees`: as `docent.answer.confidence` has them.

With sentence cosines given (question -> cosine of each sentence of the first three passages, in order),
also `sentence_cosine` (the best) and `sentence_idf` (`sentence` with corpus IDF: the best mean of a
sentence's cosine and its corpus-IDF coverage).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from docent.answer.citations import normalize_space
from docent.answer.confidence import QUESTION_FILLERS
from docent.answer.extractive import SUPPORT_PASSAGES, split_sentences
from docent.search.ports import BM25_K1
from docent.search.terms import analyze

_WORD = re.compile(r"\b[\w-]+\b")


def idf(frequency: int, chunks: int) -> float:
    """The keyword indexes' IDF (Lucene's BM25)."""
    return math.log(1.0 + (chunks - frequency + 0.5) / (frequency + 0.5))


def marked_words(question: str) -> list[str]:
    """Numbers, acronyms and capitalised words (the first word aside) of `question`."""
    words = _WORD.findall(question)
    return [
        w
        for i, w in enumerate(words)
        if any(c.isdigit() for c in w) or sum(c.isupper() for c in w) >= 2 or (i > 0 and w[0].isupper())
    ]


def sentences_of(passages: list[list[Any]]) -> list[str]:
    """The sentences `sentence_support` reads: those of the first passages, in order."""
    return [normalize_space(p[0][a:b]) for p in passages[:SUPPORT_PASSAGES] for a, b in split_sentences(p[0])]


def _z(scores: list[float]) -> float:
    if not scores:
        return 0.0
    rest = np.array(scores[1:] if len(scores) > 2 else [0.0, 0.0])
    return float((scores[0] - rest.mean()) / (rest.std() + 1e-6))


def candidates(row: dict[str, Any], sentence_cosines: list[float] | None = None) -> dict[str, float]:
    question, chunks, frequency = row["question"], row["chunks"], row["frequency"]
    weight = {
        t: idf(frequency.get(t, 0), chunks)
        for t in dict.fromkeys(analyze(question))
        if t not in QUESTION_FILLERS
    }
    total = sum(weight.values()) or 1.0
    passages = row["passages"]
    terms = [set(analyze(p[0])) for p in passages]

    def coverage(found: set[str]) -> float:
        return sum(w for t, w in weight.items() if t in found) / total

    sentences = sentences_of(passages)
    sentence_coverage = [coverage(set(analyze(s))) for s in sentences] or [0.0]
    vector, keyword = row["rankings"]["vector"], row["rankings"]["keyword"]
    best = vector[0] if vector else 0.0
    rare = sorted(weight, key=lambda t: -weight[t])[:2]
    marked = marked_words(question)
    near = " ".join(p[0] for p in passages[:3]).lower()
    first = passages[0] if passages else None
    found = {
        "sentence": row["signals"][0],
        "cosine": best,
        "cosine_z": _z(vector),
        "cosine_margin": best - (vector[1] if len(vector) > 1 else 0.0),
        "cosine_gap5": best - (vector[4] if len(vector) > 4 else 0.0),
        "cosine_gap10": best - (vector[9] if len(vector) > 9 else 0.0),
        "idf_first": coverage(terms[0]) if terms else 0.0,
        "idf_top3": max((coverage(t) for t in terms[:3]), default=0.0),
        "idf_sentence": max(sentence_coverage),
        "bm25_share": keyword[0] / (total * (BM25_K1 + 1)) if keyword and weight else 0.0,
        "keyword_z": _z(keyword),
        "keyword_ratio": keyword[1] / keyword[0] if len(keyword) > 1 and keyword[0] > 0 else 0.0,
        "rare_first": sum(t in terms[0] for t in rare) / len(rare) if rare and terms else 0.0,
        "rare_top3": max((sum(t in ts for t in rare) / len(rare) for ts in terms[:3]), default=0.0)
        if rare
        else 0.0,
        "marked_top3": sum(w.lower() in near for w in marked) / len(marked) if marked else 1.0,
        "vector_agrees": 1.0 / first[2] if first and first[2] else 0.0,
        "keyword_agrees": 1.0 / first[3] if first and first[3] else 0.0,
    }
    if sentence_cosines:
        found["sentence_cosine"] = max(sentence_cosines)
        found["sentence_idf"] = max(
            0.5 * c + 0.5 * s for c, s in zip(sentence_cosines, sentence_coverage, strict=False)
        )
    return found
