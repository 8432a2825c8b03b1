"""Pure ASGI middleware: request ids, access logs and metrics, and a cap on JSON bodies."""

from __future__ import annotations

import json
import re
import time
import uuid
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
            template = getattr(route, "path", None) or "unmatched"
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
    """Refuse non-multipart bodies over `max_bytes` with 413 before they are read into memory.

    Uploads (multipart) are limited by their own route, which streams them to disk.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _header(scope, b"content-type").startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, counted_receive, send)
        except _BodyTooLargeError:
            await _too_large(send, self.max_bytes)


class _BodyTooLargeError(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1").lower()
            return decoded
    return ""


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = error_body(
        ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit // 1024} KiB."
    )
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
