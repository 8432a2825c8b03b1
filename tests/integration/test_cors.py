"""CORS: off by default; with DOCENT_CORS_ORIGINS, a listed origin's page may call the API and `/v1` with a
Bearer token (preflight included), any other origin is not allowed, and no cookie rides along."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Api, make_settings, start_client

APP = "https://chat.example.com"


def preflight(client: Any, origin: str, path: str = "/v1/chat/completions") -> Any:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
    }
    return client.options(path, headers=headers)


def test_no_origin_is_allowed_by_default(database_url: str, tmp_path: Path, embedder: Any) -> None:
    with start_client(make_settings(database_url, tmp_path), embedder) as client:
        response = client.get("/v1/models", headers={"Origin": APP, **Api(client).headers()})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in preflight(client, APP).headers


def test_a_listed_origin_calls_v1_with_a_bearer_token(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    settings = make_settings(database_url, tmp_path, cors_origins=f"{APP}/, https://other.example.org")
    with start_client(settings, embedder) as client:
        allowed = preflight(client, APP)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == APP
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "x-stainless-os" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers
        response = client.get("/v1/models", headers={"Origin": APP, **Api(client).headers()})
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == APP
        refused = preflight(client, "https://evil.example.net")
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        other = client.get("/healthz", headers={"Origin": "https://evil.example.net"})
        assert "access-control-allow-origin" not in other.headers
