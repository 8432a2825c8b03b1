"""The error shape for every kind of bad input, and the operations endpoints."""

from __future__ import annotations

import io
import json
from typing import Any

from fastapi.testclient import TestClient

from docent.api.app import create_app
from docent.config import Settings
from docent.container import build_container
from docent.observability.logs import configure_logging
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    TEST_HASHER,
    Api,
    assert_error,
    start_client,
)


def test_malformed_json_is_400(client: TestClient, admin: dict[str, str]) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    assert_error(client.post("/api/v1/users", content=b"{not json", headers=headers), 400, "malformed_json")
    assert_error(client.post("/api/v1/groups", content=b'{"name": ', headers=headers), 400, "malformed_json")
    assert client.get("/api/v1/groups", headers=admin).json()["total"] == 0


def test_wrong_json_types_are_422(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.post("/api/v1/groups", json={"name": ["x"]}, headers=admin), 422, "validation_error")
    assert_error(client.post("/api/v1/groups", json=None, headers=admin), 422)


def test_oversized_bodies_are_413(client: TestClient, admin: dict[str, str]) -> None:
    body = json.dumps({"name": "x" * 400_000})
    response = client.post(
        "/api/v1/groups", content=body, headers={**admin, "Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nowhere"), 404, "not_found")
    assert_error(client.put("/healthz"), 405, "method_not_allowed")


def test_an_unexpected_failure_is_a_500_without_a_trace(settings: Settings, embedder: Any) -> None:
    app = create_app(settings, build_container(settings, embedder=embedder, hasher=TEST_HASHER))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_error(response, 500, "internal_error")
    assert "secret internals" not in json.dumps(body)


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "queue": "ok"}
    client.get("/api/v1/auth/me")
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE docent_http_requests_total counter" in metrics.text
    assert 'route="/api/v1/auth/me",status="401"' in metrics.text
    assert "docent_http_request_duration_seconds_bucket" in metrics.text


def test_request_ids_are_honoured_or_minted(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    minted = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"}).headers["x-request-id"]
    assert minted != "bad id with spaces\n" and len(minted) == 32


def test_logs_are_json_with_request_and_user_and_never_secrets(settings: Settings, embedder: Any) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    try:
        with start_client(settings, embedder) as client:
            api = Api(client)
            tokens = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            admin = {"Authorization": f"Bearer {tokens['access_token']}", "X-Request-ID": "trace-me"}
            api.create_user(admin, "logged@example.com")
            key = client.post("/api/v1/api-keys", json={"name": "k"}, headers=admin).json()["key"]
            client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
            client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": "Wrong-Guess-123"})
            client.get(f"/api/v1/auth/me?token={tokens['access_token']}")
    finally:
        configure_logging("INFO")
    output = stream.getvalue()
    records = [json.loads(line) for line in output.splitlines()]
    access = [r for r in records if r["event"] == "http_request"]
    assert access and all("request_id" in r for r in access)
    traced = [r for r in access if r["request_id"] == "trace-me"]
    assert traced and all(r["user_id"] for r in traced)
    for secret in (
        ADMIN_PASSWORD,
        MEMBER_PASSWORD,
        "Wrong-Guess-123",
        tokens["access_token"],
        tokens["refresh_token"],
        key,
    ):
        assert secret not in output


def test_openapi_docs_are_served_and_describe_the_api(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert 'data-openapi="/openapi.json"' in docs.text  # the page loads the document below
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "Docent"
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert {
        ("/api/v1/auth/login", "post"),
        ("/api/v1/documents", "post"),
        ("/api/v1/documents", "get"),
        ("/api/v1/search", "post"),
        ("/api/v1/chat", "post"),
        ("/v1/chat/completions", "post"),
        ("/healthz", "get"),
    } <= operations
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"], (path, method)
            assert any(status.startswith("2") for status in operation["responses"]), (path, method)


def test_openapi_documents_the_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "ErrorOut" in spec["components"]["schemas"]
    assert "401" in spec["paths"]["/api/v1/users"]["get"]["responses"]
