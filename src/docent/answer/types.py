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
    "AgentStep",
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
    notice: str | None = None  # told to the reader with the answer (agent mode was asked for but unavailable)
    skipped: tuple[str, ...] = ()  # `provider:model`s that already failed this question (in agent mode)


@dataclass(frozen=True)
class AgentStep:
    """One search of agent mode: the `number`th tool call, the query the model asked for, and the passages
    it found (only ones the asker may read: the search ran with the asker's scope and filters). `repeated`:
    the query had been searched already in this answer, so it was not run again (its earlier passages)."""

    number: int
    query: str
    passages: tuple[Passage, ...]
    repeated: bool = False

    def hits(self) -> list[dict[str, str]]:
        """The documents found, each once, best first: what the stream shows of a step."""
        seen: dict[uuid.UUID, str] = {}
        for passage in self.passages:
            seen.setdefault(passage.document_id, passage.title)
        return [{"document_id": str(document_id), "title": title} for document_id, title in seen.items()]


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
    mode: Literal["normal", "agent"] = "normal"  # `agent`: the model searched (`steps`) before answering
    steps: tuple[AgentStep, ...] = ()


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
