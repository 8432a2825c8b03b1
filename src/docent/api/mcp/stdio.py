"""`docent mcp`: the MCP server over stdin/stdout, for desktop clients that start it as a process.

It runs as the user of an API key (`DOCENT_MCP_API_KEY` or `--api-key`), checked again at every tool call,
so a revoked key or a deactivated user stops the next call just as on `/mcp`. Nothing but protocol goes to
stdout: Docent's own log goes to its file (see `docent.cli.runtime`).

A client ends the server by closing stdin and, if it is not gone within seconds, with SIGTERM (the SDK's
client waits two). SIGTERM ends it as cleanly as a closed stdin, so the access records it still holds are
written when the container closes rather than lost with the process.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import anyio
from mcp.server.mcpserver import Context

from docent.api.mcp.http import tools_of
from docent.api.mcp.server import build_server
from docent.auth.policy import Principal
from docent.container import Container


class KeyHolder:
    """The principal of one API key, resolved afresh for every call."""

    def __init__(self, container: Container, api_key: str) -> None:
        self._container = container
        self._api_key = api_key

    def principal(self, _ctx: Context[Any, Any] | None = None) -> Principal:
        container = self._container
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.authenticate(uow, self._api_key)
        key_id = principal.api_key_id
        if key_id is not None and container.key_uses.due(key_id):
            container.key_uses.record(key_id)
        return principal


def serve_stdio(container: Container, api_key: str) -> None:
    """Serve until the client closes stdin. Raises DocentError before serving if the key does not hold."""
    holder = KeyHolder(container, api_key)
    holder.principal()
    server = build_server(tools_of(container), holder.principal)
    with _terminate_as_exit():
        anyio.run(server.run_stdio_async)


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    def exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
        sys.exit(0)  # unwinds through the caller's `with` blocks, which close the container

    previous = signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
