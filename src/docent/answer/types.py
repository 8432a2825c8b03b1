"""Values of the answer path: what retrieval hands over, what an answer cites, what a request carries.

`Answer`, its `Citation`s and its `Usage` are the one model of an answer: the HTTP reply, the SSE events,
the OpenAI-compatible chunks, the stored chat message and the answer cache all show them through the
serializers below (`dump_citations`, `usage_json`, `cost_json`), never by listing their fields again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import TypeAdapter

from docent.llm.chat import Usage

__all__ = [
    "NOT_COVERED",
    "Answer",
    "AnswerRequest",
    "Citation",
    "Passage",
    "Turn",
    "Usage",
    "cost_json",
    "dump_citations",
    "load_citations",
    "usage_json",
]

# What every answerer says when the documents do not hold the answer: plain, and the same everywhere, so
# clients and tests can recognise an abstention.
NOT_COVERED = "The documents available to you do not cover this question."


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, as the answer path sees it. `score` is the retrieval score (higher is better);
    `vector_rank` and `keyword_rank` its place (1 = best) in each ranking hybrid search fused, None where
    that ranking did not reach it (or is not known)."""

    chunk_id: int
    document_id: uuid.UUID
    title: str
    version: int
    page: int | None
    section: tuple[str, ...]
    text: str
    score: float
    vector_rank: int | None = None
    keyword_rank: int | None = None


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

    def label(self, *, with_version: bool = False) -> str:
        """`[1] Title (page 2, A > B)`: how a citation is named to a reader in plain text."""
        where = [f"v{self.version}"] if with_version else []
        where += [f"page {self.page}"] if self.page is not None else []
        where += [" > ".join(self.section)] if self.section else []
        return f"[{self.number}] {self.title}" + (f" ({', '.join(where)})" if where else "")


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
    withheld: str | None = None  # why no model may be asked (a spent budget): the last resort answers alone


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
    confidence: float | None = None  # how likely the documents shown hold the answer (`answer.confidence`)
    cost_usd: Decimal | None = None
    latency_ms: float = 0.0
    failures: tuple[str, ...] = field(default=())
    cached: bool = False
    notice: str | None = None  # why the models were not asked, told to the reader


_CITATIONS: TypeAdapter[tuple[Citation, ...]] = TypeAdapter(tuple[Citation, ...])


def dump_citations(citations: Iterable[Citation]) -> list[dict[str, Any]]:
    """Citations as JSON values: `document_id` a string, `section` a list."""
    dumped: list[dict[str, Any]] = _CITATIONS.dump_python(tuple(citations), mode="json")
    return dumped


def load_citations(value: object) -> tuple[Citation, ...]:
    """The inverse of `dump_citations`. Raises pydantic's ValidationError (a ValueError)."""
    return _CITATIONS.validate_python(value)


def usage_json(usage: Usage, *, with_estimated: bool = True) -> dict[str, Any]:
    """Tokens as every reply shows them; `estimated` (counted by the adapter, not the provider) only where
    the reply's shape has it (the SSE `done` event)."""
    tokens: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    return {**tokens, "estimated": usage.estimated} if with_estimated else tokens


def cost_json(cost_usd: Decimal | None) -> str | None:
    """Money as a decimal string, so that no client rounds it through a binary float."""
    return None if cost_usd is None else str(cost_usd)
