"""Pure ASGI middleware: request ids, access logs and metrics, and a cap on request bodies."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docent.api.errors import error_body
from docent.errors import ErrorCode
from docent.observability.logs import get_logger
from docent.observability.metrics import HttpMetrics

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_access_log = get_logger("docent.access")


class RequestContextMiddleware:
    """Honour or mint `X-Request-ID`, echo it, bind it to every log line, and log and count the request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message["headers"] = headers + _rate_limit_headers(scope, headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, elapsed)
            _access_log.info(
                "http_request",
                method=scope["method"],
                path=scope["path"],  # never the query string
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                user_id=scope["state"].get("user_id"),
            )
            structlog.contextvars.clear_contextvars()


def _rate_limit_headers(scope: Scope, present: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The `RateLimit-*` headers a rate-limit dependency left in the request's state (`docent.api.deps`),
    unless the response carries its own (a 429 does)."""
    quota: dict[str, str] = scope["state"].get("rate_limit") or {}
    names = {name.lower() for name, _ in present}
    encoded = [(name.lower().encode(), value.encode()) for name, value in quota.items()]
    return [(name, value) for name, value in encoded if name not in names]


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            candidate: str = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
    return None


class BodyLimitMiddleware:
    """Refuse a body over `max_bytes` with 413 before it is read, whatever its content type, and so before
    authentication or FastAPI's form parser reads anything (a multipart body sent to a JSON route would
    otherwise be spooled to disk first). The streamed upload routes (`streamed`: method and path pattern)
    read their own bodies after authenticating the caller, file by file against DOCENT_MAX_UPLOAD_MB; their
    whole body is bounded by `max_streamed_bytes`.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        streamed: Sequence[tuple[str, re.Pattern[str]]] = (),
        max_streamed_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = tuple(streamed)
        self.max_streamed_bytes = max_streamed_bytes

    def _limit(self, scope: Scope) -> int:
        for method, path in self.streamed:
            if scope["method"] == method and path.fullmatch(scope["path"]):
                return self.max_streamed_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        refused = False

        async def counted_receive() -> Message:
            # Past the cap, answer 413 here and tell the app the client left: a form parser that catches
            # every exception (FastAPI's does) cannot turn the refusal into something else.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted_receive, send_unless_refused)
        except (
            Exception
        ):  # whatever the app made of the cut-off body (a ClientDisconnect), the client has its 413
            if not refused:
                raise


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1").lower()
            return decoded
    return ""


async def _too_large(send: Send, limit: int) -> None:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    body: dict[str, Any] = error_body(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {size}.")
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
