"""OpenAI-compatible endpoints at the root (`/v1/...`), so OpenAI clients and chat front-ends work unchanged.

The model `docent` answers with retrieval: the last user message is the question, earlier messages are the
history. Citations are appended to the content as a sources list and also given in an extra `citations`
field. Errors keep Docent's one error shape.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from docent.answer.chain import CHAIN_MODEL
from docent.answer.service import ChatResult
from docent.answer.types import Turn, dump_citations, usage_json
from docent.api.deps import ChatServiceDep, EmbedderDep, EventStreamsDep, PrincipalDep
from docent.api.openapi import OPENAI_CHUNK_EVENT, errors, event_stream
from docent.api.streaming import OpenAIChunks, sources_text
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
    return messages[last].text(), history


@router.get("/models", summary="Models: `docent` (retrieval-grounded answers)")
def list_models(principal: PrincipalDep, chat: ChatServiceDep) -> dict[str, Any]:
    """`docent` (the whole answerer chain, grounded in the caller's documents) and each configured answerer as
    `provider:model`."""
    del principal
    names = [MODEL, *(f"{a.provider}:{a.model}" for a in chat.answerers())]
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": "docent"} for name in names],
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
)
def chat_completions(
    body: CompletionIn, principal: PrincipalDep, chat: ChatServiceDep, streams: EventStreamsDep
) -> Any:
    """OpenAI-compatible. The last user message is the question, earlier user and assistant messages the
    conversation; system and tool messages are ignored. The answer cites the caller's documents: the
    sources are appended to the content and also given in an extra `citations` field. Other OpenAI
    parameters (temperature, max_tokens, ...) are accepted and ignored."""
    question, history = _conversation(body.messages)
    prepared = chat.prepare(principal, question, history=history, model=body.model)
    completion_id = f"chatcmpl-{prepared.message_id.hex}"
    if body.stream:
        return streams.respond(chat.stream(prepared), OpenAIChunks(completion_id, MODEL))
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
        "abstained": answer.abstained,
        "confidence": answer.confidence,
    }


@router.post("/embeddings", summary="Embeddings from the configured embedder")
def embeddings(body: EmbeddingsIn, principal: PrincipalDep, embedder: EmbedderDep) -> dict[str, Any]:
    """OpenAI-compatible. Vectors of the configured embedding model for one text or a list of texts."""
    del principal
    texts = [body.input] if isinstance(body.input, str) else body.input
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
