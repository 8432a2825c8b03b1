"""OpenAI-compatible endpoints at the root (`/v1/...`), so OpenAI clients and chat front-ends work unchanged.

The model `docent` answers with retrieval: the last user message is the question, earlier messages are the
history. Citations are appended to the content as a sources list and also given in an extra `citations`
field. Errors keep Docent's one error shape.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Generator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from docent.answer.chain import CHAIN_MODEL
from docent.answer.events import Citations, Done, Error, StreamEvent, Token
from docent.answer.service import ChatResult
from docent.answer.types import Citation, Turn, dump_citations, usage_json
from docent.api.deps import ContainerDep, StandalonePrincipalDep
from docent.errors import DocentError, ErrorCode

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MODEL = CHAIN_MODEL
MAX_EMBEDDING_INPUTS = 256
MAX_EMBEDDING_CHARS = 20_000


class MessagePart(BaseModel):
    type: str
    text: str | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[MessagePart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, …: accepted, the chain decides

    model: str = Field(default=MODEL, max_length=200)
    messages: list[MessageIn] = Field(min_length=1, max_length=200)
    stream: bool = False


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(default="", max_length=200)
    input: str | list[str]


def _conversation(messages: list[MessageIn]) -> tuple[str, tuple[Turn, ...]]:
    """The last user message, and the user/assistant turns before it."""
    users = [i for i, m in enumerate(messages) if m.role == "user" and m.text().strip()]
    if not users:
        raise DocentError(ErrorCode.VALIDATION_ERROR, "The messages need a user message with text.")
    last = users[-1]
    history = tuple(
        Turn("user" if m.role == "user" else "assistant", m.text())
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.text().strip()
    )
    return messages[last].text(), history


def sources_text(citations: tuple[Citation, ...] | list[Citation]) -> str:
    labels = [citation.label() for citation in citations]
    return "\n\nSources:\n" + "\n".join(labels) if labels else ""


@router.get("/models", summary="Models: `docent` (retrieval-grounded answers)")
def list_models(principal: StandalonePrincipalDep, container: ContainerDep) -> dict[str, Any]:
    del principal
    names = [MODEL, *(f"{a.provider}:{a.model}" for a in container.chat.answerers())]
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": "docent"} for name in names],
    }


@router.post("/chat/completions", summary="Chat completions; the model `docent` answers from your documents")
def chat_completions(body: CompletionIn, principal: StandalonePrincipalDep, container: ContainerDep) -> Any:
    question, history = _conversation(body.messages)
    chat = container.chat
    prepared = chat.prepare(principal, question, history=history, model=body.model)
    completion_id = f"chatcmpl-{prepared.message_id.hex}"
    if body.stream:
        chunks = _chunks(chat.stream(prepared), completion_id)
        return StreamingResponse(
            chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
    return _completion(chat.answer(prepared), completion_id)


def _completion(result: ChatResult, completion_id: str) -> dict[str, Any]:
    answer = result.answer
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text + sources_text(answer.citations)},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_json(answer.usage, with_estimated=False),
        "citations": dump_citations(answer.citations),
        "provider": answer.provider,
        "cached": answer.cached,
    }


def _chunk(completion_id: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    payload = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(payload, default=str)}\n\n"


async def _chunks(events: Generator[StreamEvent, None, Any], completion_id: str) -> AsyncIterator[str]:
    """The answer stream as OpenAI chunks; the generator is closed however the response ends."""
    citations: list[dict[str, Any]] = []
    try:
        yield _chunk(completion_id, {"role": "assistant", "content": ""})
        while (event := await run_in_threadpool(next, events, None)) is not None:
            if isinstance(event, Token):
                yield _chunk(completion_id, {"content": event.text})
            elif isinstance(event, Citations):
                citations = dump_citations(event.citations)
                yield _chunk(completion_id, {"content": sources_text(list(event.citations))})
            elif isinstance(event, Done):
                usage = usage_json(event.usage, with_estimated=False)
                yield _chunk(completion_id, {}, "stop", usage=usage, citations=citations)
            elif isinstance(event, Error):
                yield f"data: {json.dumps({'error': {'code': event.code, 'message': event.message}})}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        await run_in_threadpool(events.close)


@router.post("/embeddings", summary="Embeddings from the configured embedder")
def embeddings(
    body: EmbeddingsIn, principal: StandalonePrincipalDep, container: ContainerDep
) -> dict[str, Any]:
    del principal
    texts = [body.input] if isinstance(body.input, str) else body.input
    if (
        not texts
        or len(texts) > MAX_EMBEDDING_INPUTS
        or any(not t or len(t) > MAX_EMBEDDING_CHARS for t in texts)
    ):
        raise DocentError(
            ErrorCode.VALIDATION_ERROR,
            f"input: 1 to {MAX_EMBEDDING_INPUTS} texts of 1 to {MAX_EMBEDDING_CHARS} characters.",
        )
    embedder = container.embedder
    vectors = embedder.embed(texts)
    tokens = sum(embedder.count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [float(x) for x in vector]}
            for i, vector in enumerate(vectors)
        ],
        "model": embedder.model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
