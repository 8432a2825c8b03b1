"""A `ChatModel` for any server that speaks OpenAI's `/v1/chat/completions` (OpenAI, Groq, OpenRouter,
Gemini's OpenAI endpoint, Ollama, vLLM, llama.cpp server…).

The `openai` SDK is imported on first use and never retries (`max_retries=0`): on failure the provider chain
moves on to the next provider at once, which beats waiting on this one. `timeout_seconds` bounds the wait
for the reply to start and every pause between two pieces of a streamed reply.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import urlsplit

from docent.llm.chat import (
    ChatCompletion,
    ChatDelta,
    ChatMessage,
    ChatModelError,
    ChatModelUnavailable,
    Tool,
    ToolMessage,
    ToolReply,
    Usage,
)
from docent.llm.openai_embedder import estimate_tokens
from docent.llm.openai_sdk import make_client, server_detail
from docent.llm.openai_tools import read_calls, wire_messages, wire_tools

if TYPE_CHECKING:
    import openai

# Statuses that say the provider, not this request, is the problem: timeout, too early, rate limited, bad
# or insufficient credentials, unknown model or path (a misconfigured provider stays broken).
_UNAVAILABLE_STATUSES = frozenset({401, 403, 404, 408, 425, 429})
_TOKENS_PER_MESSAGE = 4  # role and separators in chat templates, for the fallback count


class OpenAIChatModel:
    """`ChatModel` for an OpenAI-compatible chat-completions endpoint.

    Errors: connection failures, timeouts, 5xx, 401/403/404/408/425/429 and replies that break the protocol
    raise `ChatModelUnavailable`; other refusals (400, 413, 422…) raise `ChatModelError`. No message ever
    contains the API key. When the server reports no usage, it is counted with `estimate_tokens` (an
    over-estimate) and marked estimated.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        timeout_seconds: float = 30.0,
        provider: str = "openai",
    ) -> None:
        self._provider = provider  # what answers record: "openai", or the operator's name for the server
        self._model = model
        self._base_url = base_url
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._host = (urlsplit(base_url).hostname if base_url else None) or "api.openai.com"
        self._lock = threading.Lock()
        self._sdk_client: openai.OpenAI | None = None

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        return self._model

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Generator[ChatDelta, None, None]:
        import openai

        try:
            response = self._create(messages, max_tokens, temperature, stop, stream=True)
        except openai.APIError as exc:
            self._translate(exc)
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        try:
            for chunk in self._chunks(response):
                usage = self._usage(chunk) or usage
                text, finish = self._delta(chunk, finish)
                if text:
                    parts.append(text)
                    yield ChatDelta(text)
        finally:
            response.close()  # also when the reader stops early: the server sees the connection go
        if finish is None:
            raise ChatModelUnavailable(f"{self._where()} ended its reply before finishing it")
        yield ChatDelta(usage=usage or self._estimate(messages, "".join(parts)), finish_reason=finish)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> ChatCompletion:
        import openai

        try:
            response = self._create(messages, max_tokens, temperature, stop, stream=False)
        except openai.APIError as exc:
            self._translate(exc)
        except json.JSONDecodeError:  # a 200 whose body is not JSON (a proxy's error page, say)
            self._raise_malformed()
        try:
            # The SDK does not validate replies, so a foreign server's JSON arrives unchecked.
            choice = response.choices[0]
            text = choice.message.content or ""
            finish = str(choice.finish_reason or "stop")
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (AttributeError, IndexError, KeyError, TypeError):
            self._raise_malformed()
        usage = self._usage(response) or self._estimate(messages, text)
        return ChatCompletion(text, usage, finish)

    def complete_tools(
        self,
        messages: Sequence[ToolMessage],
        tools: Sequence[Tool],
        *,
        max_tokens: int,
        tool_choice: Literal["auto", "none"] = "auto",
        timeout_seconds: float | None = None,
    ) -> ToolReply:
        """One turn with `tools` offered (`ToolCallingModel`); not streamed, so the calls arrive whole."""
        import openai

        timeout = (
            self._timeout if timeout_seconds is None else max(0.001, min(timeout_seconds, self._timeout))
        )
        try:
            response = self._client().chat.completions.create(
                model=self._model,
                messages=wire_messages(messages),  # type: ignore[arg-type]
                tools=wire_tools(tools),  # type: ignore[arg-type]
                tool_choice=tool_choice,
                max_tokens=max_tokens,
                temperature=0.0,
                timeout=timeout,
            )
        except openai.APIError as exc:
            self._translate(exc)
        except json.JSONDecodeError:
            self._raise_malformed()
        try:
            choice = response.choices[0]
            text = choice.message.content or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
            calls = read_calls(choice.message)
            finish = str(choice.finish_reason or ("tool_calls" if calls else "stop"))
        except (AttributeError, IndexError, KeyError, TypeError):
            self._raise_malformed()
        said = text + "".join(c.name + c.arguments for c in calls)
        usage = self._usage(response) or Usage(
            sum(estimate_tokens(str(m)) for m in messages), estimate_tokens(said), estimated=True
        )
        return ToolReply(text, calls, usage, finish)

    def close(self) -> None:
        """Release the HTTP connection pool (the model can still be used; it reconnects)."""
        with self._lock:
            client, self._sdk_client = self._sdk_client, None
        if client is not None:
            client.close()

    def _create(
        self,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        **kw: Any,
    ) -> Any:
        options: dict[str, Any] = {}
        if stop:
            options["stop"] = list(stop)
        if kw.get("stream"):
            options["stream_options"] = {"include_usage": True}
        return self._client().chat.completions.create(
            model=self._model,
            messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
            max_tokens=max_tokens,
            temperature=temperature,
            **kw,
            **options,
        )

    def _chunks(self, response: Iterator[Any]) -> Iterator[Any]:
        """The stream's chunks, with every failure while reading it translated."""
        import openai

        try:
            yield from response
        except openai.APIError as exc:
            self._translate(exc)
        except ValueError:  # a `data:` line that is not JSON
            self._raise_malformed()

    def _delta(self, chunk: Any, finish: str | None) -> tuple[str, str | None]:
        """The text a chunk adds, and the finish reason so far."""
        try:
            choices = chunk.choices or []
            if not choices:
                return "", finish  # the closing usage chunk has no choices
            text = choices[0].delta.content or ""
            if not isinstance(text, str):
                raise TypeError("content is not text")
            return text, str(choices[0].finish_reason or "") or finish
        except (AttributeError, IndexError, KeyError, TypeError):
            self._raise_malformed()

    @staticmethod
    def _usage(reply: Any) -> Usage | None:
        usage = getattr(reply, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        if not isinstance(prompt, int) or not isinstance(completion, int):
            return None
        return Usage(prompt, completion)

    @staticmethod
    def _estimate(messages: Sequence[ChatMessage], completion: str) -> Usage:
        prompt = sum(estimate_tokens(m.content) + _TOKENS_PER_MESSAGE for m in messages)
        return Usage(prompt, estimate_tokens(completion), estimated=True)

    def _translate(self, exc: openai.APIError) -> NoReturn:
        # `from None`: the SDK's exception carries the server's body verbatim, which may echo secrets.
        import openai

        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self._detail(exc.body)
            message = f"{self._where()} answered {status}{': ' + detail if detail else ''}"
            if status >= 500 or status in _UNAVAILABLE_STATUSES:
                raise ChatModelUnavailable(message) from None
            raise ChatModelError(message) from None
        if isinstance(exc, openai.APITimeoutError):
            raise ChatModelUnavailable(f"{self._where()} did not answer within {self._timeout:g}s") from None
        if isinstance(exc, openai.APIConnectionError):
            raise ChatModelUnavailable(f"cannot connect to {self._where()}") from None
        # Any other APIError: an error object in the middle of a stream, or a reply the SDK cannot read.
        detail = self._detail(exc.body) or "a reply that is not a chat completion"
        raise ChatModelUnavailable(f"{self._where()} sent {detail}") from None

    def _raise_malformed(self) -> NoReturn:
        raise ChatModelUnavailable(f"{self._where()} sent a reply that is not a chat completion") from None

    def _detail(self, body: object) -> str:
        return server_detail(body, self._api_key)

    def _where(self) -> str:
        return f"chat server {self._host} (model {self._model})"

    def _client(self) -> openai.OpenAI:
        with self._lock:
            if self._sdk_client is None:
                self._sdk_client = make_client(self._api_key, self._base_url, self._timeout)
            return self._sdk_client
