"""Every error leaves Docent in one JSON shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from docent.errors import DocentError, ErrorCode
from docent.observability.logs import get_logger

_HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.NOT_AUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}
_log = get_logger(__name__)


def error_body(code: ErrorCode, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code.value, "message": message, "details": details}}


def error_response(error: DocentError) -> JSONResponse:
    return JSONResponse(
        error_body(error.code, error.message, error.details),
        status_code=error.http_status,
        headers=error.headers,
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the submitted values back: they may be passwords.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


async def _on_docent_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocentError)
    return error_response(exc)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(DocentError(ErrorCode.MALFORMED_JSON, "The request body is not valid JSON."))
    return error_response(DocentError(ErrorCode.VALIDATION_ERROR, "The request is invalid.", details=details))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
    message = exc.detail if isinstance(exc.detail, str) else code.value.replace("_", " ").capitalize()
    response = JSONResponse(error_body(code, message), status_code=exc.status_code)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette names only those of the first route whose path
    matched, and GET and DELETE of one path are two routes."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled_exception", exc_info=exc)
    code = ErrorCode.INTERNAL_ERROR
    return JSONResponse(error_body(code, code.default_message), status_code=code.http_status)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DocentError, _on_docent_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
