"""One pump for every answer stream: the chat service's events, rendered by an encoder, sent as SSE.

The service's `stream` is a plain generator that blocks (it waits on a model and, when it ends, writes to the
database), so each step runs in a worker thread. However the response ends (finished, failed, or the client
went away), the generator is closed in a worker thread under a shielded cancel scope: the model stops, and
the chat's database write never runs on the event loop. A failure after the first byte cannot become an
HTTP error any more; the encoder turns it into its last frame instead.

sse-starlette's `EventSourceResponse` sends the frames, notices a client that went away, and sends a
keep-alive comment when the stream is silent for DOCENT_SSE_PING_SECONDS, so a proxy's idle timeout does not
cut a slow model's answer. (FastAPI's own `EventSourceResponse` streams only from a path operation that is
itself a generator, with a fixed ping interval; these routes answer JSON or a stream depending on the body,
and must refuse a bad question with a 4xx before the first byte.)
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from docent.answer.events import Citations, Done, Error, StreamEvent, Token, to_sse
from docent.answer.types import Citation, Usage, dump_citations, usage_json
from docent.errors import ErrorCode
from docent.observability.logs import get_logger

_log = get_logger(__name__)
_SEPARATOR = "\n"  # what the frames have always used (sse-starlette's default is CRLF)
_FAILED = Error(ErrorCode.INTERNAL_ERROR.value, "Internal server error.")


class Encoder(Protocol):
    """Renders a stream of the chat service's events as SSE frames (bytes, each ending in a blank line)."""

    def opening(self) -> Iterable[bytes]: ...

    def encode(self, event: StreamEvent) -> Iterable[bytes]: ...

    def closing(self) -> Iterable[bytes]: ...


class DocentEvents:
    """Docent's own stream: each event as `event: <name>` and its JSON payload (`docent.answer.events`)."""

    def opening(self) -> Iterable[bytes]:
        return ()

    def encode(self, event: StreamEvent) -> Iterable[bytes]:
        return (to_sse(event).encode(),)

    def closing(self) -> Iterable[bytes]:
        return ()


@dataclass
class OpenAIChunks:
    """The OpenAI chat-completions stream: `chat.completion.chunk`s as `data:` frames, then `[DONE]`. The
    citations are appended to the content as a sources list and given in the last chunk too."""

    completion_id: str
    model: str
    citations: tuple[Citation, ...] = field(default=())
    # When no language model reported usage (the extractive answerer, a cached answer): the tokens the
    # client sent, and the tokenizer that counts the reply.
    prompt_tokens: int = 0
    count: Callable[[str], int] | None = None
    sent: list[str] = field(default_factory=list)

    def opening(self) -> Iterable[bytes]:
        return (self._chunk({"role": "assistant", "content": ""}),)

    def encode(self, event: StreamEvent) -> Iterable[bytes]:
        if isinstance(event, Token):
            self.sent.append(event.text)
            return (self._chunk({"content": event.text}),)
        if isinstance(event, Citations):
            self.citations = event.citations
            self.sent.append(sources_text(event.citations))
            return (self._chunk({"content": sources_text(event.citations)}),)
        if isinstance(event, Done):
            usage = usage_json(self._usage(event.usage), with_estimated=False)
            extra = {"abstained": event.abstained, "confidence": event.confidence}
            return (self._chunk({}, "stop", usage=usage, citations=dump_citations(self.citations), **extra),)
        if isinstance(event, Error):
            return (_data(event.payload()),)
        return ()  # `meta`: the ids are the completion's own here

    def closing(self) -> Iterable[bytes]:
        return (b"data: [DONE]\n\n",)

    def _usage(self, reported: Usage) -> Usage:
        if reported.total_tokens > 0 or self.count is None:
            return reported
        reply = "".join(self.sent)
        return Usage(self.prompt_tokens, self.count(reply) if reply else 0, estimated=True)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return _data(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
        )


def sources_text(citations: Iterable[Citation]) -> str:
    """The citations as a plain-text list appended to an answer, for clients that show only the text."""
    labels = [citation.label() for citation in citations]
    return "\n\nSources:\n" + "\n".join(labels) if labels else ""


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, default=str)}\n\n".encode()


async def pump(
    events: Generator[StreamEvent, None, Any], encoder: Encoder, on_close: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """The frames of `events`, each step of the generator in a worker thread; see the module docstring.
    `on_close` runs once the generator is closed (it gives back the caller's stream slot)."""
    try:
        for frame in encoder.opening():
            yield frame
        while (event := await run_in_threadpool(next, events, None)) is not None:
            for frame in encoder.encode(event):
                yield frame
        for frame in encoder.closing():
            yield frame
    except Exception:  # after the first byte a failure is the stream's last frame, never a stack trace
        _log.exception("stream_failed")
        for frame in (*encoder.encode(_FAILED), *encoder.closing()):
            yield frame
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await run_in_threadpool(events.close)
            finally:
                if on_close is not None:
                    await run_in_threadpool(on_close)


@dataclass(frozen=True)
class EventStreams:
    """Makes the streaming responses; `ping_seconds` is DOCENT_SSE_PING_SECONDS."""

    ping_seconds: float

    def respond(
        self,
        events: Generator[StreamEvent, None, Any],
        encoder: Encoder,
        on_close: Callable[[], None] | None = None,
    ) -> EventSourceResponse:
        return EventSourceResponse(
            pump(events, encoder, on_close),
            headers={"Cache-Control": "no-cache"},
            ping=self.ping_seconds,
            sep=_SEPARATOR,
            ping_message_factory=lambda: ServerSentEvent(comment="ping", sep=_SEPARATOR),
        )
