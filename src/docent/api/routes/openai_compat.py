"""OpenAI-compatible endpoints at the root (`/v1/...`), so OpenAI clients and chat front-ends work unchanged.

The model `docent` answers with retrieval: the last user message is the question, earlier messages are the
history. Citations are appended to the content as a sources list and also given in an extra `citations`
field. Errors keep Docent's one error shape.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from docent.answer.chain import CHAIN_MODEL
from docent.answer.service import ChatResult
from docent.answer.types import Turn, dump_citations, usage_json
from docent.api.deps import (
    ChatServiceDep,
    EmbedderDep,
    EventStreamsDep,
    PrincipalDep,
    StreamSlotsDep,
    rate_limit,
)
from docent.api.streaming import OpenAIChunks, sources_text
from docent.auth.rate_limits import RateLimitKind
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


@router.get(
    "/models",
    summary="Models: `docent` (retrieval-grounded answers)",
    dependencies=[rate_limit(RateLimitKind.SEARCH)],
)
def list_models(principal: PrincipalDep, chat: ChatServiceDep) -> dict[str, Any]:
    del principal
    names = [MODEL, *(f"{a.provider}:{a.model}" for a in chat.answerers())]
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": "docent"} for name in names],
    }


@router.post(
    "/chat/completions",
    summary="Chat completions; the model `docent` answers from your documents",
    dependencies=[rate_limit(RateLimitKind.CHAT)],
)
def chat_completions(
    body: CompletionIn,
    principal: PrincipalDep,
    chat: ChatServiceDep,
    streams: EventStreamsDep,
    slots: StreamSlotsDep,
) -> Any:
    question, history = _conversation(body.messages)
    prepared = chat.prepare(principal, question, history=history, model=body.model)
    completion_id = f"chatcmpl-{prepared.message_id.hex}"
    if body.stream:
        give_back = slots.take(str(principal.user_id))
        encoder = OpenAIChunks(completion_id, MODEL)
        return streams.respond(chat.stream(prepared), encoder, on_close=give_back)
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
        **({"notice": answer.notice} if answer.notice else {}),
    }


@router.post(
    "/embeddings",
    summary="Embeddings from the configured embedder",
    dependencies=[rate_limit(RateLimitKind.SEARCH)],
)
def embeddings(body: EmbeddingsIn, principal: PrincipalDep, embedder: EmbedderDep) -> dict[str, Any]:
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
