"""Monthly model budgets set by admins, per organisation and per member: once spent, the remote model is not
called, the extractive answerer answers and says why, and GET /me/usage shows what was used and what is left.
The remote model is a real HTTP server on 127.0.0.1 speaking the OpenAI protocol (test_chat_providers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MEMBER_PASSWORD, Api, assert_error, make_settings, start_client
from tests.fakes import FakeChat
from tests.integration.test_chat_providers import LEAVE, QUESTION, server

__all__ = ["server"]  # the scripted model's fixture


@pytest.fixture
def budgeted(
    database_url: str, tmp_path: Path, embedder: Any, server: FakeChat
) -> Iterator[tuple[Api, dict[str, str], list[str]]]:
    url, hits = server.url, server.asked
    settings = make_settings(
        database_url,
        tmp_path,
        llm_providers=f"openai:scripted@{url}, extractive",
        llm_api_key="sk-test-key",
        llm_prices="scripted=2.50/10",
        llm_timeout_seconds=5,
        answer_cache=False,
    )
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("leave.md", LEAVE, "text/markdown"))], visibility="org")
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        yield api, admin, hits


def _ask(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/chat", json={"question": QUESTION}, headers=headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_a_spent_organisation_budget_stops_the_model_and_the_answer_says_why(
    budgeted: tuple[Api, dict[str, str], list[str]],
) -> None:
    api, admin, hits = budgeted
    client = api.client
    response = client.put("/api/v1/admin/budgets/organization", json={"max_tokens": 1000}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["max_tokens"] == 1000
    first = _ask(client, admin)
    assert first["usage"]["provider"] == "openai" and first["notice"] is None
    usage = client.get("/api/v1/me/usage", headers=admin).json()
    assert usage["organization"]["tokens"] == 1230
    assert usage["organization"]["budget"]["remaining_tokens"] == 0
    assert usage["user"]["budget"] == {
        "max_tokens": None,
        "max_cost_usd": None,
        "remaining_tokens": None,
        "remaining_cost_usd": None,
    }
    assert usage["models_allowed"] is False and "organisation" in usage["reason"]
    second = _ask(client, admin)
    assert hits == ["scripted"]  # not asked again
    assert second["usage"]["provider"] == "extractive"
    assert "sixteen weeks" in second["answer"]
    assert "budget" in second["notice"]
    stream = client.post("/api/v1/chat", json={"question": QUESTION, "stream": True}, headers=admin)
    done = [line for line in stream.text.splitlines() if line.startswith("data:") and "notice" in line]
    assert done and "budget" in json.loads(done[-1][5:])["notice"]
    completion = {"model": "docent", "messages": [{"role": "user", "content": QUESTION}]}
    assert "budget" in client.post("/v1/chat/completions", json=completion, headers=admin).json()["notice"]
    assert hits == ["scripted"]
    # Lifting the cap lets the model answer again.
    client.put("/api/v1/admin/budgets/organization", json={"max_tokens": None}, headers=admin)
    assert _ask(client, admin)["usage"]["provider"] == "openai"


def test_a_members_cost_budget_is_theirs_alone(budgeted: tuple[Api, dict[str, str], list[str]]) -> None:
    api, admin, hits = budgeted
    client = api.client
    spender = api.create_user(admin, "spender@example.com")
    api.create_user(admin, "other@example.com")
    spender_headers = api.headers("spender@example.com", MEMBER_PASSWORD)
    other_headers = api.headers("other@example.com", MEMBER_PASSWORD)
    response = client.put(
        f"/api/v1/admin/budgets/users/{spender['id']}", json={"max_cost_usd": 0.003}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert _ask(client, spender_headers)["usage"]["provider"] == "openai"  # costs 0.0033
    usage = client.get("/api/v1/me/usage", headers=spender_headers).json()
    assert usage["user"]["cost_usd"] == "0.0033"
    assert usage["user"]["budget"]["remaining_cost_usd"] == "0"
    assert usage["models_allowed"] is False
    assert "Your model budget" in _ask(client, spender_headers)["notice"]
    assert _ask(client, other_headers)["usage"]["provider"] == "openai"
    assert hits == ["scripted", "scripted"]
    listed = client.get("/api/v1/admin/budgets", headers=admin).json()
    assert [(b["user_id"], b["max_cost_usd"]) for b in listed] == [(spender["id"], "0.003")]


def test_only_admins_set_budgets_and_bad_ones_are_refused(
    budgeted: tuple[Api, dict[str, str], list[str]],
) -> None:
    api, admin, _hits = budgeted
    client = api.client
    api.create_user(admin, "plain@example.com")
    member = api.headers("plain@example.com", MEMBER_PASSWORD)
    assert_error(
        client.put("/api/v1/admin/budgets/organization", json={"max_tokens": 5}, headers=member), 403
    )
    assert_error(client.get("/api/v1/admin/budgets", headers=member), 403)
    missing = "/api/v1/admin/budgets/users/00000000-0000-0000-0000-000000000000"
    assert_error(client.put(missing, json={"max_tokens": 5}, headers=admin), 404, "user_not_found")
    for bad in ({"max_tokens": -1}, {"max_cost_usd": "lots"}, {"max_tokens": 5, "extra": 1}):
        assert_error(client.put("/api/v1/admin/budgets/organization", json=bad, headers=admin), 422)
    assert client.get("/api/v1/admin/budgets", headers=admin).json() == []
    assert client.get("/api/v1/me/usage", headers=member).json()["models_allowed"] is True
