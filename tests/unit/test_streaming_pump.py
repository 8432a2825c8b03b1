"""The one pump of answer streams (docent.api.streaming), fed plain generators shaped like the chat
service's stream: how it ends, however it ends."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Generator
from decimal import Decimal
from typing import Any

import anyio

from docent.answer.events import Citations, Done, Meta, StreamEvent, Token
from docent.answer.types import Citation, Usage
from docent.api.streaming import DocentEvents, Encoder, OpenAIChunks, pump

CITATION = Citation(1, 7, uuid.UUID(int=3), "Handbook", 2, 5, ("HR", "Leave"), "Sixteen weeks.", 0.5)


def answer(closed_in: list[str], *, fail: bool = False) -> Generator[StreamEvent, None, None]:
    try:
        yield Meta("s", "m")
        yield Token("Sixteen")
        if fail:
            raise RuntimeError("the database went away")
        yield Token(" weeks [1].")
        yield Citations((CITATION,))
        yield Done(Usage(12, 3), "openai", "gpt-x", 1234.56, Decimal("0.0001"))
    finally:
        closed_in.append(threading.current_thread().name)


def frames(events: Generator[StreamEvent, None, None], encoder: Encoder) -> list[str]:
    async def collect() -> list[str]:
        return [frame.decode() async for frame in pump(events, encoder)]

    return anyio.run(collect)


def test_docent_events_are_sse_frames() -> None:
    closed_in: list[str] = []
    sent = frames(answer(closed_in), DocentEvents())
    assert [frame.split("\n")[0] for frame in sent] == [
        "event: meta",
        "event: token",
        "event: token",
        "event: citations",
        "event: done",
    ]
    done = json.loads(sent[-1].split("data: ", 1)[1])
    assert done == {
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "estimated": False},
        "provider": "openai",
        "model": "gpt-x",
        "latency_ms": 1234.6,
        "cost_usd": "0.0001",
        "cached": False,
        "abstained": False,
        "confidence": None,
        "mode": "normal",
    }
    assert closed_in and closed_in[0] != threading.main_thread().name


def test_openai_chunks_carry_the_text_the_sources_and_the_usage() -> None:
    sent = frames(answer([]), OpenAIChunks("chatcmpl-1", "docent"))
    assert sent[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(frame[len("data: ") :]) for frame in sent[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Sixteen weeks [1].\n\nSources:\n[1] Handbook (page 5, HR > Leave)"
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert last["citations"][0]["document_id"] == str(CITATION.document_id)


def test_a_failure_after_the_first_byte_ends_the_stream_with_an_error_on_both_encodings() -> None:
    docent = frames(answer([], fail=True), DocentEvents())
    assert docent[-1].startswith("event: error\n")
    assert json.loads(docent[-1].split("data: ", 1)[1]) == {
        "error": {"code": "internal_error", "message": "Internal server error."}
    }
    openai = frames(answer([], fail=True), OpenAIChunks("chatcmpl-1", "docent"))
    assert json.loads(openai[-2][len("data: ") :])["error"]["code"] == "internal_error"
    assert openai[-1] == "data: [DONE]\n\n"


def test_a_cancelled_stream_is_closed_in_a_worker_thread() -> None:
    """What happens when the client goes away: the task sending the stream is cancelled. The generator is
    closed all the same (so the model stops and the answer is kept), and not on the event loop's thread."""
    closed_in: list[str] = []

    async def send_one_frame_then_cancel() -> list[Any]:
        got = []
        with anyio.CancelScope() as scope:
            async for frame in pump(answer(closed_in), DocentEvents()):
                got.append(frame)
                scope.cancel()
        return got

    assert len(anyio.run(send_one_frame_then_cancel)) == 1
    assert closed_in and closed_in[0] != threading.main_thread().name
