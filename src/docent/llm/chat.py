"""The chat-model port: what every language-model adapter (OpenAI-compatible server, in-process llama.cpp)
offers the answer path, and the two failures it may raise.

The caller decides from the error type alone what to do next:

- `ChatModelUnavailable`: this provider cannot serve anyone right now (down, slow, overloaded,
  rate-limiting, rejecting our credentials, unknown model, replying with something that is not the
  protocol). A provider chain falls through to the next provider and rests this one for a while.
- `ChatModelError` (any other): this provider refused this one request (too long, rejected parameters,
  filtered). Another request may well succeed, so there is no reason to rest the provider.

Messages are meant for people and logs, and never contain an API key.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ChatRole = Literal["system", "user", "assistant"]


class ChatModelError(Exception):
    """The model could not answer this request; sending it again unchanged will not help."""


class ChatModelUnavailable(ChatModelError):  # noqa: N818 - the name says what the caller should do
    """The provider is unable to answer at the moment (any request); another provider should be tried."""


@dataclass(frozen=True)
class ChatMessage:
    role: ChatRole
    content: str


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed. `estimated` is True when the adapter counted them itself because the
    provider did not say (the count is then an approximation, see the adapter)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ChatDelta:
    """A piece of a streamed reply: new `text`, and on the last piece only, `usage` and `finish_reason`."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ChatCompletion:
    text: str
    usage: Usage
    finish_reason: str


class ChatModel(Protocol):
    """A language model that continues a conversation.

    `provider` names the kind of adapter ("openai", "llamacpp") and `model` the model it runs; together they
    are what an answer records. `count_tokens` approximates the model's own count (never below it by much),
    for fitting prompts into budgets.

    `stream` returns a generator that sends the reply as it is produced: text deltas in order, then one
    final delta carrying `usage` and `finish_reason` (always present: counted by the adapter when the
    provider gives none). Nothing happens until the first `next()`. Closing the generator stops generation
    and releases the connection or the model. Errors (`ChatModelUnavailable`, `ChatModelError`) may be
    raised at the first `next()` or in the middle of the reply. `complete` is the same call without
    streaming. Neither retries: falling back is the caller's business.
    """

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Generator[ChatDelta, None, None]: ...

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> ChatCompletion: ...


# ---------- tool calls (OpenAI's `tools` protocol), for the agent mode of the answer path ----------


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, and its arguments as a JSON schema."""

    name: str
    description: str
    parameters: dict[str, object]


@dataclass(frozen=True)
class ToolCall:
    """The model asks for `name` with `arguments`, JSON text as the model wrote it (not yet checked)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolRequest:
    """An assistant turn that called tools (sent back to the model as it was)."""

    text: str
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave, sent back to the model under the call's id."""

    call_id: str
    content: str


ToolMessage = ChatMessage | ToolRequest | ToolResult


@dataclass(frozen=True)
class ToolReply:
    """A model's turn: text, tool calls, or both; `usage` is always present (counted when not reported)."""

    text: str
    calls: tuple[ToolCall, ...]
    usage: Usage
    finish_reason: str


class ToolCallingModel(Protocol):
    """A chat model that can call tools. `complete_tools` is one turn, not streamed: with `tool_choice`
    "auto" the model may call any of `tools`, with "none" it must answer in text. Raises
    `ChatModelUnavailable` or `ChatModelError` like `ChatModel.complete`; `timeout_seconds`, when given,
    shortens the adapter's own timeout for this call (never lengthens it)."""

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def complete_tools(
        self,
        messages: Sequence[ToolMessage],
        tools: Sequence[Tool],
        *,
        max_tokens: int,
        tool_choice: Literal["auto", "none"] = "auto",
        timeout_seconds: float | None = None,
    ) -> ToolReply: ...
