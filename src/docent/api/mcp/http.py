"""`/mcp`: the MCP server over streamable HTTP, on the same server and behind the same Bearer credential
(an access token or an API key) as the HTTP API.

Stateless: every POST is served on its own and authenticated on its own, so a revoked key or a deactivated
user stops at the next call, and any server process (or replica) can serve any call — there is no session
to pin. Responses are plain JSON. Cookies are not read here: a browser cannot be made to call `/mcp` with
the user's credential, which is also why the SDK's DNS-rebinding guard is not needed.

A request without a valid credential counts on its address's ceiling, as on every route (429 past it).
The caller's own rate limits are counted per tool call (`docent.api.mcp.tools`), and a spent limit is a
tool error carrying the wait rather than an HTTP 429: the SDK's client reports a 429 only as "Server
returned an error response", so the model would never learn when to try again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from docent.api.client_address import client_address
from docent.api.errors import error_response
from docent.api.mcp.server import build_server
from docent.api.mcp.tools import DocentTools
from docent.auth.policy import Principal
from docent.auth.rate_limits import RateLimitKind
from docent.container import Container
from docent.errors import DocentError, ErrorCode

MCP_PATH = "/mcp"
_PRINCIPAL = "docent.principal"  # the ASGI scope key this endpoint leaves the caller under


def tools_of(container: Container) -> DocentTools:
    return DocentTools(
        container.database,
        container.documents,
        container.retriever,
        container.chat,
        container.access,
        container.rate_limits,
    )


def _principal_of_request(ctx: Context[Any, Any]) -> Principal:
    request = ctx.request_context.request
    principal = request.scope.get(_PRINCIPAL) if request is not None else None
    if not isinstance(principal, Principal):  # only reachable if the endpoint were bypassed
        raise DocentError(ErrorCode.NOT_AUTHENTICATED)
    return principal


class McpEndpoint:
    """The ASGI app at `/mcp`. `running()` belongs in the app's lifespan: the SDK's session manager runs
    only inside it, and a manager runs once, so each lifespan builds its own."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        server = build_server(tools_of(self._container), _principal_of_request)
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            max_request_body_size=self._container.settings.max_json_body_kb * 1024,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is None:  # a request before start-up or after shut-down
            await error_response(DocentError(ErrorCode.NOT_READY))(scope, receive, send)
            return
        try:
            principal = await run_in_threadpool(self._authenticate, scope)
        except DocentError as error:
            error.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
            try:  # as on every route, a request without a valid credential counts on its address
                await run_in_threadpool(self._count_anonymous, scope)
            except DocentError as limited:
                error = limited
            await error_response(error)(scope, receive, send)
            return
        scope[_PRINCIPAL] = principal
        scope.setdefault("state", {})["user_id"] = str(principal.user_id)
        structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
        await manager.handle_request(scope, receive, send)
        key_id = principal.api_key_id
        if key_id is not None and self._container.key_uses.due(key_id):
            await run_in_threadpool(self._container.key_uses.record, key_id)

    def _authenticate(self, scope: Scope) -> Principal:
        credential = _bearer(scope)
        if credential is None:
            raise DocentError(ErrorCode.NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
        container = self._container
        with container.database.unit_of_work(write=False) as uow:
            return container.auth.authenticate(uow, credential)

    def _count_anonymous(self, scope: Scope) -> None:
        container = self._container
        address = client_address(Request(scope), container.settings) or "unknown"
        quota = container.rate_limits.hit(RateLimitKind.ANONYMOUS, f"address:{address}")
        scope.setdefault("state", {})["rate_limit"] = quota.headers()


def _bearer(scope: Scope) -> str | None:
    scheme, _, credential = Headers(scope=scope).get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None
