"""Rate limits on the routes that cost work, counted per user or API key; a per-address ceiling for requests
without a valid credential; a cap on concurrent answer streams and on documents waiting to be indexed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MEMBER_PASSWORD, Api, assert_error, make_settings, start_client

SEARCH = {"query": "travel policy", "top_k": 3}


@pytest.fixture
def limited(
    database_url: str, tmp_path: Path, embedder: Any, request: pytest.FixtureRequest
) -> Iterator[Api]:
    overrides = {
        "rate_limit_search": "3/hour",
        "rate_limit_chat": "2/hour",
        "rate_limit_upload": "2/hour",
        "rate_limit_anonymous": "1000/hour",
        "embedded_worker": False,  # documents stay queued
        **getattr(request, "param", {}),
    }
    with start_client(make_settings(database_url, tmp_path, **overrides), embedder) as client:
        yield Api(client)


def _member(api: Api, admin: dict[str, str], email: str) -> dict[str, str]:
    api.create_user(admin, email)
    return api.headers(email, MEMBER_PASSWORD)


def test_search_past_its_limit_is_429_with_headers_and_other_users_are_not_limited(limited: Api) -> None:
    client = limited.client
    admin = limited.headers()
    one, two = _member(limited, admin, "one@example.com"), _member(limited, admin, "two@example.com")
    remaining = []
    for _ in range(3):
        response = client.post("/api/v1/search", json=SEARCH, headers=one)
        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Limit"] == "3"
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 3600
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = client.post("/api/v1/search", json=SEARCH, headers=one)
    body = assert_error(refused, 429, "rate_limited")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert body["error"]["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"])
    assert client.post("/api/v1/search", json=SEARCH, headers=two).status_code == 200
    # Unlimited routes carry no RateLimit headers.
    assert "RateLimit-Limit" not in client.get("/api/v1/auth/me", headers=one).headers


def test_an_api_key_counts_apart_from_its_owners_logins(limited: Api) -> None:
    client = limited.client
    admin = limited.headers()
    member = _member(limited, admin, "keys@example.com")
    key = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=member).json()["key"]
    for _ in range(3):
        assert client.post("/api/v1/search", json=SEARCH, headers=member).status_code == 200
    assert_error(client.post("/api/v1/search", json=SEARCH, headers=member), 429, "rate_limited")
    by_key = {"Authorization": f"Bearer {key}"}
    assert client.post("/api/v1/search", json=SEARCH, headers=by_key).status_code == 200


def test_chat_and_the_openai_endpoint_share_the_chat_limit(limited: Api) -> None:
    client = limited.client
    member = _member(limited, limited.headers(), "chat@example.com")
    assert client.post("/api/v1/chat", json={"question": "travel?"}, headers=member).status_code == 200
    completion = {"model": "docent", "messages": [{"role": "user", "content": "travel?"}]}
    assert client.post("/v1/chat/completions", json=completion, headers=member).status_code == 200
    assert_error(client.post("/v1/chat/completions", json=completion, headers=member), 429, "rate_limited")
    assert_error(client.post("/api/v1/chat", json={"question": "x?"}, headers=member), 429, "rate_limited")
    # /v1/embeddings and /v1/models count on the search limit.
    assert client.get("/v1/models", headers=member).status_code == 200
    assert client.post("/v1/embeddings", json={"input": "a"}, headers=member).status_code == 200
    assert client.post("/v1/embeddings", json={"input": "a"}, headers=member).status_code == 200
    assert_error(client.post("/v1/embeddings", json={"input": "a"}, headers=member), 429, "rate_limited")


def test_uploads_and_url_imports_are_limited_before_the_body_is_read(limited: Api, tmp_path: Path) -> None:
    client = limited.client
    member = _member(limited, limited.headers(), "up@example.com")
    limited.upload(member, [("files", ("a.txt", b"first file", "text/plain"))])
    refused = client.post(
        "/api/v1/documents/url", json={"url": "http://127.0.0.1:9/x"}, headers=member
    )  # the second upload-like request: a URL import refused later, after counting
    assert refused.status_code != 429, refused.text
    assert_error(
        client.post(
            "/api/v1/documents", files=[("files", ("b.txt", b"second", "text/plain"))], headers=member
        ),
        429,
        "rate_limited",
    )
    staging = tmp_path / "files"
    staged = [p for p in staging.rglob("*") if p.is_file() and "staging" in p.parts]
    assert staged == []


@pytest.mark.parametrize("limited", [{"rate_limit_anonymous": "4/hour"}], indirect=True)
def test_requests_without_a_valid_credential_meet_the_per_address_ceiling(limited: Api) -> None:
    client = limited.client
    member = _member(limited, limited.headers(), "anon@example.com")  # logins so far count on the address
    tries = [{}, {"Authorization": "Bearer not-a-token"}, {}, {}, {}]
    answers = [client.post("/api/v1/search", json=SEARCH, headers=headers) for headers in tries]
    codes = [answer.status_code for answer in answers]
    first = codes.index(429)  # within the ceiling of 4, whatever the logins before used of it
    assert first >= 1 and set(codes[:first]) == {401} and set(codes[first:]) == {429}, codes
    refused = answers[first]
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) > 0
    assert_error(
        client.post("/api/v1/auth/login", data={"username": "anon@example.com", "password": MEMBER_PASSWORD}),
        429,
        "rate_limited",
    )
    # A signed-in caller is counted on their own limit, not the address's.
    assert client.post("/api/v1/search", json=SEARCH, headers=member).status_code == 200


@pytest.mark.parametrize(
    "limited", [{"max_streams_per_user": 1, "rate_limit_chat": "100/hour"}], indirect=True
)
def test_concurrent_streams_per_user_are_capped(limited: Api) -> None:
    client = limited.client
    member = _member(limited, limited.headers(), "stream@example.com")
    me = client.get("/api/v1/auth/me", headers=member).json()
    slots = client.app.state.container.streams  # type: ignore[attr-defined]
    held = slots.take(me["id"])  # an answer streaming elsewhere
    body = {"question": "travel?", "stream": True}
    assert_error(client.post("/api/v1/chat", json=body, headers=member), 429, "too_many_streams")
    completion = {"model": "docent", "stream": True, "messages": [{"role": "user", "content": "travel?"}]}
    assert_error(
        client.post("/v1/chat/completions", json=completion, headers=member), 429, "too_many_streams"
    )
    held()
    with client.stream("POST", "/api/v1/chat", json=body, headers=member) as response:
        assert response.status_code == 200
        assert "event: done" in response.read().decode()
    # The finished stream gave its slot back.
    slots.take(me["id"])()


@pytest.mark.parametrize(
    "limited", [{"max_queued_documents_per_user": 2, "rate_limit_upload": "100/hour"}], indirect=True
)
def test_documents_waiting_to_be_indexed_are_capped_per_user(limited: Api) -> None:
    client = limited.client
    admin = limited.headers()
    member = _member(limited, admin, "queue@example.com")
    limited.upload(member, [("files", ("a.txt", b"alpha text", "text/plain"))])
    files = [
        ("files", ("b.txt", b"beta text", "text/plain")),
        ("files", ("c.txt", b"gamma text", "text/plain")),
    ]
    body = assert_error(
        client.post("/api/v1/documents", files=files, headers=member), 429, "too_many_queued_documents"
    )
    assert body["error"]["details"] == {"queued": 1, "limit": 2}
    limited.upload(member, files[:1])
    # Another member's queue is their own.
    other = _member(limited, admin, "other@example.com")
    limited.upload(other, files)
