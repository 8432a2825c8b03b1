"""The OpenAPI document tells a client what it needs: every operation described, only the errors a route can
answer (each in the one error shape), examples for the main requests; and the behaviours schemathesis
found wrong stay fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docent.api.app import create_app
from docent.container import build_container
from tests.conftest import assert_error, make_settings

ERROR_SCHEMA = "#/components/schemas/ErrorOut"
MAIN_REQUESTS = [
    ("/api/v1/auth/login", "post", "application/x-www-form-urlencoded"),
    ("/api/v1/search", "post", "application/json"),
    ("/api/v1/chat", "post", "application/json"),
    ("/api/v1/documents", "post", "multipart/form-data"),
    ("/v1/chat/completions", "post", "application/json"),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> dict[str, Any]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    settings = make_settings(f"sqlite:///{data_dir / 'docent.db'}", data_dir)
    openapi: dict[str, Any] = create_app(settings, build_container(settings, embedder=embedder)).openapi()
    return openapi


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_every_operation_is_described(document: dict[str, Any]) -> None:
    undescribed = [f"{m.upper()} {p}" for p, m, op in _operations(document) if not op.get("description")]
    assert not undescribed
    assert all(op.get("summary") for _, _, op in _operations(document))


def test_each_route_lists_only_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    def errors(path: str, method: str) -> set[str]:
        return {code for code in document["paths"][path][method]["responses"] if code[0] in "45"}

    assert errors("/healthz", "get") == set()
    assert errors("/metrics", "get") == set()
    assert errors("/api/v1/auth/me", "get") == {"401", "403", "429"}  # 429: the per-address ceiling
    assert errors("/api/v1/jobs/{job_id}", "get") == {"401", "403", "404", "422", "429"}
    assert {"409", "413", "422"} <= errors("/api/v1/users", "post")
    assert "409" not in errors("/api/v1/search", "post")
    assert errors("/api/v1/auth/refresh", "post") == {"400", "401", "413", "422", "429"}  # no caller: no 403
    assert {"401", "429"} <= errors("/api/v1/auth/login", "post")
    assert {"415", "502", "504"} <= errors("/api/v1/documents/url", "post")


def test_every_listed_error_uses_the_error_shape(document: dict[str, Any]) -> None:
    for path, method, op in _operations(document):
        for status, response in op["responses"].items():
            if status[0] not in "45" or path == "/readyz":  # /readyz's 503 is its report, not an error
                continue
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_SCHEMA}, (
                path,
                method,
                status,
            )
            assert response["description"] and response["description"] != "Successful Response"


@pytest.mark.parametrize(("path", "method", "media_type"), MAIN_REQUESTS)
def test_main_requests_have_examples(
    document: dict[str, Any], path: str, method: str, media_type: str
) -> None:
    content = document["paths"][path][method]["requestBody"]["content"][media_type]
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert content.get("example") or content.get("examples") or schema.get("examples")


def test_schemas_and_fields_are_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("DocumentOut", "SearchIn", "SearchResultOut", "ChatIn", "ChatOut", "TokenOut", "ErrorOut"):
        schema = schemas[name]
        assert schema.get("description"), name
        undescribed = [f for f, prop in schema["properties"].items() if not prop.get("description")]
        assert not undescribed, (name, undescribed)


def test_method_not_allowed_names_every_method_of_the_path(client: TestClient, admin: dict[str, str]) -> None:
    users = client.request("OPTIONS", "/api/v1/users", headers=admin)
    assert_error(users, 405, "method_not_allowed")
    assert users.headers["allow"] == "GET, POST"
    one = client.request("PUT", "/api/v1/users/00000000-0000-0000-0000-000000000000", headers=admin)
    assert one.status_code == 405 and one.headers["allow"] == "DELETE, GET, PATCH"
    # `url` is no document id: PUT /documents/url is a method the path lacks, not a malformed id.
    url = client.put("/api/v1/documents/url", json={"url": "0"}, headers=admin)
    assert_error(url, 405)
    assert url.headers["allow"] == "POST"


def test_numbers_are_no_timestamps(client: TestClient, admin: dict[str, str]) -> None:
    body = {"query": "handbook", "filters": {"created_before": 0}}
    assert_error(client.post("/api/v1/search", json=body, headers=admin), 422, "validation_error")
    body = {"query": "handbook", "filters": {"created_before": "2030-01-01T00:00:00Z"}}
    assert client.post("/api/v1/search", json=body, headers=admin).status_code == 200
    assert_error(client.get("/api/v1/admin/usage?to=0", headers=admin), 422, "validation_error")
    assert client.get("/api/v1/admin/usage?from=2026-01-01&to=2026-12-31", headers=admin).status_code == 200


def test_booleans_are_json_booleans(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.post("/api/v1/chat", json={"question": "hi", "stream": 0}, headers=admin), 422)
    me = client.get("/api/v1/auth/me", headers=admin).json()
    patch = client.patch(f"/api/v1/users/{me['id']}", json={"is_active": 1}, headers=admin)
    assert_error(patch, 422, "validation_error")
