"""OpenAI-compatible endpoints at the root (`/v1/...`), so OpenAI clients and chat front-ends work unchanged.

The model `docent` answers with retrieval: the last user message is the question (a long one, such as the
title and tag prompts chat front-ends send, is cut to its end: `docent.answer.questions`), earlier messages
are the history. Citations are appended to the content as a sources list and also given in an extra
`citations` field. `usage` counts tokens: the provider's count when a language model answered, else (the
extractive answerer, a cached answer) the messages and the reply counted with the embedder's tokenizer.
Errors keep Docent's one error shape.
"""

from __future__ import annotations

import base64
import time
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from docent.answer.chain import CHAIN_MODEL
from docent.answer.questions import cut_question
from docent.answer.service import MAX_QUESTION_CHARS, ChatResult
from docent.answer.types import Answer, Turn, Usage, dump_citations, usage_json
from docent.api import shown
from docent.api.deps import (
    AccessRecorderDep,
    ChatServiceDep,
    EmbedderDep,
    EventStreamsDep,
    PrincipalDep,
    StreamSlotsDep,
    rate_limit,
)
from docent.api.openapi import OPENAI_CHUNK_EVENT, errors, event_stream
from docent.api.streaming import OpenAIChunks, sources_text
from docent.auth.rate_limits import RateLimitKind
from docent.errors import DocentError, ErrorCode

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MODEL = CHAIN_MODEL
MAX_EMBEDDING_INPUTS = 256
MAX_EMBEDDING_CHARS = 20_000


class MessagePart(BaseModel):
    """A part of a message's content; only `text` parts are read."""

    type: str = Field(description="`text` is read; other parts (images, ...) are ignored")
    text: str | None = Field(default=None, description="The text of a `text` part")


class MessageIn(BaseModel):
    """One message of the conversation, as OpenAI clients send it."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"] = Field(
        description="Only `user` and `assistant` messages are read; the last `user` one is the question"
    )
    content: str | list[MessagePart] | None = Field(default=None, description="Text, or a list of parts")

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class CompletionIn(BaseModel):
    """An OpenAI chat-completions request; other OpenAI parameters are accepted and ignored."""

    # temperature, max_tokens, …: accepted, the chain decides
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": MODEL,
                    "messages": [
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": "What is our policy on remote work?"},
                    ],
                    "stream": False,
                }
            ]
        },
    )

    model: str = Field(
        default=MODEL,
        max_length=200,
        description="`docent` (the whole chain) or one answerer as `GET /v1/models` lists it",
    )
    messages: list[MessageIn] = Field(
        min_length=1, max_length=200, description="The conversation; needs a `user` message with text"
    )
    stream: StrictBool = Field(default=False, description="Answer as `chat.completion.chunk` events")


EmbeddingText = Annotated[str, Field(min_length=1, max_length=MAX_EMBEDDING_CHARS)]


class EmbeddingsIn(BaseModel):
    """An OpenAI embeddings request."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(default="", max_length=200, description="Ignored: the configured model answers")
    input: (
        EmbeddingText | Annotated[list[EmbeddingText], Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)]
    ) = Field(description="One text, or a list of texts")
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="`base64`: each vector as little-endian float32 bytes in base64"
    )


def _conversation(messages: list[MessageIn]) -> tuple[str, tuple[Turn, ...]]:
    """The last user message, and the user/assistant turns before it."""
    users = [i for i, m in enumerate(messages) if m.role == "user" and m.text().strip()]
    if not users:
        raise DocentError(ErrorCode.NO_QUESTION)
    last = users[-1]
    history = tuple(
        Turn("user" if m.role == "user" else "assistant", m.text())
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.text().strip()
    )
    return cut_question(messages[last].text(), MAX_QUESTION_CHARS), history


def counted_usage(answer: Answer, messages: list[MessageIn], reply: str, count: Any) -> Usage:
    """The provider's usage when a model answered; else what was sent and replied, counted by `count`."""
    if answer.usage.total_tokens > 0:
        return answer.usage
    prompt = sum(count(m.text()) for m in messages if m.text())
    return Usage(prompt_tokens=prompt, completion_tokens=count(reply) if reply else 0, estimated=True)


@router.get(
    "/models",
    summary="Models: `docent` (retrieval-grounded answers)",
    dependencies=[rate_limit(RateLimitKind.SEARCH)],
)
def list_models(principal: PrincipalDep, chat: ChatServiceDep) -> dict[str, Any]:
    """`docent` (the whole answerer chain, grounded in the caller's documents) and each configured answerer as
    `provider:model`."""
    del principal
    names = [MODEL, *(f"{a.provider}:{a.model}" for a in chat.answerers())]
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": chat.available_since, "owned_by": "docent"}
            for name in names
        ],
    }


@router.post(
    "/chat/completions",
    summary="Chat completions; the model `docent` answers from your documents",
    responses={
        200: event_stream(
            OPENAI_CHUNK_EVENT,
            "A `chat.completion` object, or with `stream: true` `chat.completion.chunk`s as `data:` events "
            "ending with `data: [DONE]`.",
        ),
        **errors(502),
    },
    dependencies=[rate_limit(RateLimitKind.CHAT)],
)
def chat_completions(
    body: CompletionIn,
    principal: PrincipalDep,
    chat: ChatServiceDep,
    streams: EventStreamsDep,
    access: AccessRecorderDep,
    embedder: EmbedderDep,
    slots: StreamSlotsDep,
) -> Any:
    """OpenAI-compatible. The last user message is the question, earlier user and assistant messages the
    conversation; system and tool messages are ignored. The answer cites the caller's documents: the
    sources are appended to the content and also given in an extra `citations` field. Other OpenAI
    parameters (temperature, max_tokens, ...) are accepted and ignored."""
    question, history = _conversation(body.messages)
    prepared = chat.prepare(principal, question, history=history, model=body.model)
    access.record(principal, "v1.chat.completions", shown.answer_passages(prepared))
    completion_id = f"chatcmpl-{prepared.message_id.hex}"
    count = embedder.count_tokens
    if body.stream:
        prompt_tokens = sum(count(m.text()) for m in body.messages if m.text())
        give_back = slots.take(str(principal.user_id))
        return streams.respond(
            chat.stream(prepared),
            OpenAIChunks(completion_id, MODEL, prompt_tokens=prompt_tokens, count=count),
            on_close=give_back,
        )
    result = chat.answer(prepared)
    return _completion(
        result, completion_id, counted_usage(result.answer, body.messages, _content(result), count)
    )


def _content(result: ChatResult) -> str:
    return result.answer.text + sources_text(result.answer.citations)


def _completion(result: ChatResult, completion_id: str, usage: Usage) -> dict[str, Any]:
    answer = result.answer
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _content(result)},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_json(usage, with_estimated=False),
        "citations": dump_citations(answer.citations),
        "provider": answer.provider,
        "cached": answer.cached,
        "abstained": answer.abstained,
        "confidence": answer.confidence,
        **({"notice": answer.notice} if answer.notice else {}),
    }


@router.post(
    "/embeddings",
    summary="Embeddings from the configured embedder",
    dependencies=[rate_limit(RateLimitKind.SEARCH)],
)
def embeddings(body: EmbeddingsIn, principal: PrincipalDep, embedder: EmbedderDep) -> dict[str, Any]:
    """OpenAI-compatible. Vectors of the configured embedding model for one text or a list of texts."""
    del principal
    texts = [body.input] if isinstance(body.input, str) else body.input
    vectors = embedder.embed(texts)
    tokens = sum(embedder.count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encoded(vector, body.encoding_format)}
            for i, vector in enumerate(vectors)
        ],
        "model": embedder.model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: Any, encoding_format: str) -> list[float] | str:
    """`base64`: the little-endian float32 bytes, base64-encoded, as OpenAI's API (and SDKs) have them."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
