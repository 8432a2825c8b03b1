"""Walk every registered API route: anonymous callers get 401, members get 403 on admin routes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from docent.api.deps import current_principal, require_admin
from tests.conftest import assert_error

PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    # The web app's cookie sign-in and refresh: they check the request's origin and CSRF token instead.
    ("POST", "/api/v1/auth/session"),
    ("POST", "/api/v1/auth/session/refresh"),
    # Single sign-on: whether it is offered, and the browser's trip to the identity provider and back
    # (the callback is checked by the signed state cookie, the nonce and the provider's signed ID token).
    ("GET", "/api/v1/auth/oidc"),
    ("GET", "/api/v1/auth/oidc/login"),
    ("GET", "/api/v1/auth/oidc/callback"),
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _flatten(routes: list[Any]) -> Iterator[Any]:
    """API routes with their full paths; FastAPI keeps included routers as lazily resolved groups."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        elif isinstance(route, APIRoute):
            yield route


def _api_routes(client: TestClient) -> list[tuple[str, str, Any]]:
    routes = []
    for route in _flatten(client.app.routes):  # type: ignore[attr-defined]
        if route.path.startswith("/api/v1"):
            routes.extend((method, route.path, route) for method in sorted(route.methods))
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path)


def test_every_route_is_classified(client: TestClient) -> None:
    routes = _api_routes(client)
    assert len(routes) >= 15
    for method, path, route in routes:
        calls = set(_calls(route.dependant))
        assert (method, path) in PUBLIC or current_principal in calls, (
            f"{method} {path} has no authentication"
        )


def test_anonymous_gets_401_everywhere_but_login(client: TestClient) -> None:
    for method, path, _route in _api_routes(client):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path))
        assert_error(response, 401, "not_authenticated")
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), f"{method} {path}"


def test_members_get_403_on_every_admin_route(client: TestClient, member: dict[str, str]) -> None:
    admin_routes = [(m, p) for m, p, r in _api_routes(client) if require_admin in set(_calls(r.dependant))]
    assert {
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/groups"),
        ("GET", "/api/v1/admin/audit"),
        ("POST", "/api/v1/admin/index/rebuild"),
    } <= set(admin_routes)
    for method, path in admin_routes:
        response = client.request(method, _concrete(path), headers=member, json={})
        assert_error(response, 403, "forbidden")


def test_members_reach_the_routes_meant_for_them(client: TestClient, member: dict[str, str]) -> None:
    assert client.get("/api/v1/auth/me", headers=member).status_code == 200
    assert client.get("/api/v1/api-keys", headers=member).status_code == 200
    assert client.get("/api/v1/sources", headers=member).status_code == 200  # their own sources


def test_admin_routes_live_in_one_router_module(client: TestClient) -> None:
    under_admin = [r for _m, p, r in _api_routes(client) if p.startswith("/api/v1/admin/")]
    assert {r.path for r in under_admin} >= {
        "/api/v1/admin/audit",
        "/api/v1/admin/usage",
        "/api/v1/admin/index/check",
        "/api/v1/admin/index/rebuild",
    }
    assert {r.endpoint.__module__ for r in under_admin} == {"docent.api.routes.admin"}
