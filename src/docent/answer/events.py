"""The typed answer stream: `meta`, then (in agent mode) `step`s, then `token`s, then `citations` and `done`
— or an `error` that ends it.

Every event knows its wire name and JSON payload; `to_sse` renders one as a Server-Sent Events frame.
An `error` carries the one error shape of the API (`{"error": {"code", "message"}}`), never a stack trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from docent.answer.types import (
    AgentStep,
    Answer,
    Citation,
    Usage,
    cost_json,
    dump_citations,
    usage_json,
)


@dataclass(frozen=True)
class Meta:
    name: ClassVar[str] = "meta"
    session_id: str
    message_id: str

    def payload(self) -> dict[str, object]:
        return {"session_id": self.session_id, "message_id": self.message_id}


@dataclass(frozen=True)
class Step:
    """A search agent mode ran: its number, the query, and the documents found (only readable ones)."""

    name: ClassVar[str] = "step"
    step: AgentStep

    def payload(self) -> dict[str, object]:
        return {
            "step": self.step.number,
            "query": self.step.query,
            "hits": self.step.hits(),
            "repeated": self.step.repeated,
        }


@dataclass(frozen=True)
class Token:
    name: ClassVar[str] = "token"
    text: str

    def payload(self) -> dict[str, object]:
        return {"text": self.text}


@dataclass(frozen=True)
class Citations:
    name: ClassVar[str] = "citations"
    citations: tuple[Citation, ...]

    def payload(self) -> dict[str, object]:
        return {"citations": dump_citations(self.citations)}


@dataclass(frozen=True)
class Done:
    name: ClassVar[str] = "done"
    usage: Usage
    provider: str
    model: str
    latency_ms: float
    cost_usd: Decimal | None = None
    cached: bool = False  # served from the answer cache: no model ran, no tokens were used
    abstained: bool = False
    confidence: float | None = None
    notice: str | None = None  # why no model was asked (a spent budget); present only then
    mode: str = "normal"  # `agent` when the model searched before answering

    @classmethod
    def of(cls, answer: Answer) -> Done:
        return cls(
            answer.usage,
            answer.provider,
            answer.model,
            answer.latency_ms,
            answer.cost_usd,
            cached=answer.cached,
            abstained=answer.abstained,
            confidence=answer.confidence,
            notice=answer.notice,
            mode=answer.mode,
        )

    def payload(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "usage": usage_json(self.usage),
            "provider": self.provider,
            "model": self.model,
            "latency_ms": round(self.latency_ms, 1),
            "cost_usd": cost_json(self.cost_usd),
            "cached": self.cached,
            "abstained": self.abstained,
            "confidence": self.confidence,
            "mode": self.mode,
        }
        if self.notice:
            payload["notice"] = self.notice
        return payload


@dataclass(frozen=True)
class Error:
    name: ClassVar[str] = "error"
    code: str
    message: str

    def payload(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}


StreamEvent = Meta | Step | Token | Citations | Done | Error


def to_sse(event: StreamEvent) -> str:
    """`event: <name>\\ndata: <json>\\n\\n`. The JSON is on one line (json.dumps escapes newlines), so a
    token holding a line break cannot end the frame early."""
    data = json.dumps(event.payload(), ensure_ascii=False, separators=(",", ":"))
    return f"event: {event.name}\ndata: {data}\n\n"
