"""OpenAI's tool-calling protocol on the wire: pure. Docent's tool messages as `messages` entries, `Tool`s
as `tools`, and a reply's `tool_calls` read back (checked: the SDK does not validate a foreign server's
JSON, so anything not shaped like the protocol raises `TypeError`, which the adapter reports)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from docent.llm.chat import ChatMessage, Tool, ToolCall, ToolMessage, ToolRequest

MAX_CALLS_PER_TURN = 16  # more than any agent step uses; a reply asking for more is cut here


def wire_messages(messages: Sequence[ToolMessage]) -> list[dict[str, Any]]:
    return [_wire(message) for message in messages]


def _wire(message: ToolMessage) -> dict[str, Any]:
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": message.content}
    if isinstance(message, ToolRequest):
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.calls
        ]
        return {"role": "assistant", "content": message.text or None, "tool_calls": calls}
    return {"role": "tool", "tool_call_id": message.call_id, "content": message.content}


def wire_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def read_calls(message: Any) -> tuple[ToolCall, ...]:
    """The tool calls of a reply's `message` (none when it has none). Raises TypeError when malformed."""
    raw = getattr(message, "tool_calls", None) or []
    if not isinstance(raw, list):
        raise TypeError("tool_calls is not a list")
    calls = []
    for index, call in enumerate(raw[:MAX_CALLS_PER_TURN]):
        function = getattr(call, "function", None)
        name = getattr(function, "name", None)
        arguments = getattr(function, "arguments", None)
        call_id = getattr(call, "id", None) or f"call_{index}"
        if not isinstance(name, str) or not isinstance(call_id, str):
            raise TypeError("a tool call has no function name")
        if not isinstance(arguments, str):
            arguments = "" if arguments is None else str(arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)
