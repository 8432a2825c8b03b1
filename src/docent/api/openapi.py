"""What the OpenAPI document says about errors and streams, so that it lists what each route can answer.

Each operation lists only the errors it can return. Most are derived from the route itself when the app is
assembled (`document_errors`, run on each router before it is included): a caller to authenticate gives 401
and 403 (an admin-only route, a cookie session without its CSRF token), a JSON or form body 400 (malformed),
413 and 422, a path, query or body parameter 422, a path parameter 404. What only the route's own logic can
answer is declared on it with `responses=errors(...)`, e.g. `errors(409)` where an email may be taken. Every
listed error uses the one error shape (`ErrorOut`); schemathesis (tests/integration/test_api_conformance.py)
checks that the lists are complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from docent.api.deps import anonymous_limit, current_principal, require_admin
from docent.api.schemas import ErrorOut

ERROR_MEANINGS: dict[int, str] = {
    400: "Refused: the request matches this document but cannot be done (`error.code` says why), or its "
    "body is not valid JSON (`malformed_json`).",
    401: "Not authenticated: no credential, or an invalid, expired or revoked token or API key "
    "(`WWW-Authenticate: Bearer`).",
    403: "Authenticated but not allowed: the route needs the admin role or the owner, or a cookie session "
    "sent no valid `X-CSRF-Token` (`csrf_failed`).",
    404: "Not found, or not visible to the caller (the two are not told apart).",
    409: "Conflicts with what exists (`error.code` says what).",
    413: "The body, or one file of it, is larger than the limit.",
    415: "The body is not of the media type this route reads.",
    422: "The request does not match this document; `error.details` lists each problem with its location.",
    429: "Too many attempts or requests; `Retry-After` says how many seconds to wait.",
    502: "A site or model Docent had to call failed (`fetch_failed`, `provider_failed`).",
    504: "A site Docent had to fetch did not answer in time (`fetch_timeout`).",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route for errors only its own logic can answer (the rest are derived)."""
    return {status: {"model": ErrorOut, "description": ERROR_MEANINGS[status]} for status in statuses}


def document_errors(router: APIRouter) -> None:
    """Give every operation of the router the errors it can answer with, besides those it declares."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            derived = errors(*sorted(_derived_statuses(route)))
            route.responses = {**derived, **route.responses}


def _derived_statuses(route: APIRoute) -> set[int]:
    statuses: set[int] = set()
    calls = set(_calls(route.dependant))
    if current_principal in calls:
        # 429: a request without a valid credential counts against its address's ceiling
        statuses |= {401, 403, 429}
    if anonymous_limit in calls:
        statuses.add(429)
    if require_admin in calls:
        statuses.add(403)
    has_body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    if has_body:
        statuses |= {400, 413, 422}
    if route.dependant.path_params:
        statuses |= {404, 422}
    if route.dependant.query_params or route.dependant.header_params:
        statuses.add(422)
    return statuses


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for dependency in dependant.dependencies:
        yield from _calls(dependency)


def _json_data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def _event(name: str, payload: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "properties": {"event": {"const": name}, "data": _json_data(payload)},
    }


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_STRING = {"type": "string"}
_ERROR_PAYLOAD = _object(["error"], error=_object(["code", "message"], code=_STRING, message=_STRING))

# One Server-Sent Event as schemathesis and Open API 3.2 read it: {event, data, id?, retry?}, `data` a JSON
# text whose shape depends on `event`.
DOCENT_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "oneOf": [
        _event(
            "meta",
            _object(["session_id", "message_id"], session_id=_STRING, message_id=_STRING),
            "First: the chat session and the id the answer will have.",
        ),
        _event(
            "step",
            _object(
                ["step", "query", "hits", "repeated"],
                step={"type": "integer", "minimum": 1},
                query=_STRING,
                hits={
                    "type": "array",
                    "items": _object(["document_id", "title"], document_id=_STRING, title=_STRING),
                },
                repeated={"type": "boolean"},
            ),
            "Agent mode only, before any `token`: one search the model ran, with the documents it found "
            "(only documents the caller may read).",
        ),
        _event("token", _object(["text"], text=_STRING), "A piece of the answer's text, in order."),
        _event(
            "citations",
            _object(["citations"], citations={"type": "array", "items": {"type": "object"}}),
            "The passages the answer cites, as in the JSON answer's `citations`.",
        ),
        _event(
            "done",
            _object(
                ["usage", "provider", "model", "abstained"],
                usage={"type": "object"},
                provider=_STRING,
                model=_STRING,
                abstained={"type": "boolean"},
                confidence={"type": ["number", "null"], "minimum": 0, "maximum": 1},
                mode={"enum": ["normal", "agent"]},
                notice=_STRING,
            ),
            "Last: usage, cost, latency, the provider and model that answered, whether it was cached, "
            "whether the documents did not cover the question, and the calibrated confidence that they do.",
        ),
        _event("error", _ERROR_PAYLOAD, "Last, instead of `done`: the answer failed after it began."),
    ],
}

OPENAI_CHUNK_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                _json_data(
                    {
                        "anyOf": [
                            _object(["id", "object", "choices"], object={"const": "chat.completion.chunk"}),
                            _ERROR_PAYLOAD,
                        ]
                    }
                ),
            ]
        }
    },
}


def event_stream(event_schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A 200 `text/event-stream` alternative to a route's JSON answer; the schema describes one event."""
    return {"description": description, "content": {"text/event-stream": {"schema": event_schema}}}
