"""Values of the answer path: what retrieval hands over, what an answer cites, what a request carries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from docent.llm.chat import Usage

__all__ = [
    "NOT_COVERED",
    "Answer",
    "AnswerRequest",
    "Citation",
    "Passage",
    "Turn",
    "Usage",
]

# What every answerer says when the documents do not hold the answer: plain, and the same everywhere, so
# clients and tests can recognise an abstention.
NOT_COVERED = "The documents available to you do not cover this question."


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, as the answer path sees it. `score` is the retrieval score (higher is better)."""

    chunk_id: int
    document_id: uuid.UUID
    title: str
    version: int
    page: int | None
    section: tuple[str, ...]
    text: str
    score: float


@dataclass(frozen=True)
class Citation:
    """Marker `[number]` of an answer points here. `snippet` is text of the chunk (whitespace collapsed)."""

    number: int
    chunk_id: int
    document_id: uuid.UUID
    title: str
    version: int
    page: int | None
    section: tuple[str, ...]
    snippet: str
    score: float

    def as_dict(self) -> dict[str, object]:
        """The JSON shape clients receive."""
        return {
            "number": self.number,
            "chunk_id": self.chunk_id,
            "document_id": str(self.document_id),
            "title": self.title,
            "version": self.version,
            "page": self.page,
            "section": list(self.section),
            "snippet": self.snippet,
            "score": self.score,
        }


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class AnswerRequest:
    """A standalone question (already rewritten if it was a follow-up), the passages retrieved for it best
    first, and the recent conversation, oldest first."""

    question: str
    passages: tuple[Passage, ...]
    history: tuple[Turn, ...] = ()
    answerer: str | None = None  # `provider:model` the asker chose (then only it, and the last resort)


@dataclass(frozen=True)
class Answer:
    """What an answerer produced; the chain fills in `cost_usd`, `latency_ms` and `failures` (the providers
    that were tried first and failed, with the reason). `cached`: served again from the answer cache (see
    `docent.answer.recall`); `provider` and `model` are then those of the original answer."""

    text: str
    citations: tuple[Citation, ...]
    usage: Usage
    provider: str
    model: str
    abstained: bool = False
    cost_usd: Decimal | None = None
    latency_ms: float = 0.0
    failures: tuple[str, ...] = field(default=())
    cached: bool = False
