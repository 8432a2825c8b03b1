"""What the OpenAI-compatible adapters share: how the SDK client is made and how a server's error is told."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

MAX_DETAIL_CHARS = 300


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.OpenAI:
    """An SDK client that never retries (retries belong to the caller) and never reads OPENAI_API_KEY."""
    from openai import OpenAI

    # Keyless servers (Ollama, llama.cpp) need no key; never fall back to OPENAI_API_KEY.
    return OpenAI(api_key=api_key or "unused", base_url=base_url, timeout=timeout, max_retries=0)


def server_detail(body: object, api_key: str | None) -> str:
    """The server's own error message, shortened, with the API key masked should it be echoed."""
    message = body.get("message") if isinstance(body, dict) else body
    if not isinstance(message, str):
        return ""
    if api_key:
        message = message.replace(api_key, "***")
    return message[:MAX_DETAIL_CHARS]
