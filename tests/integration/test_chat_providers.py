"""POST /chat with a remote model first in the chain: a real HTTP server on 127.0.0.1 speaking the OpenAI
chat-completions protocol stands in for it (the model name picks its behaviour)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, make_settings, start_client
from tests.fakes import FakeChat, serve_chat

REPLY = ["Parents receive", " sixteen weeks", " of paid parental leave", " [1]", "."]
LEAVE = b"# Parental leave\n\nParents receive sixteen weeks of paid parental leave.\n"


@pytest.fixture
def server() -> Iterator[FakeChat]:
    usage = {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230}
    with serve_chat(FakeChat(reply=REPLY, usage=usage)) as fake:
        yield fake


@contextmanager
def run_chat(
    database_url: str, tmp_path: Path, embedder: Any, providers: str
) -> Iterator[tuple[TestClient, Api, dict[str, str]]]:
    settings = make_settings(
        database_url,
        tmp_path,
        llm_providers=providers,
        llm_api_key="sk-test-key",
        llm_prices="scripted=2.50/10",
        llm_timeout_seconds=5,
    )
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("leave.md", LEAVE, "text/markdown"))])
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        yield client, api, admin


QUESTION = "How many weeks of paid parental leave do parents get?"


def test_a_remote_model_answers_with_markers_and_its_cost_is_kept(
    database_url: str, tmp_path: Path, embedder: Any, server: FakeChat
) -> None:
    url, hits = server.url, server.asked
    providers = f"openai:scripted@{url}, extractive"
    with run_chat(database_url, tmp_path, embedder, providers) as (client, _api, admin):
        reply = client.post("/api/v1/chat", json={"question": QUESTION}, headers=admin).json()
        assert hits == ["scripted"]
        assert reply["answer"] == "Parents receive sixteen weeks of paid parental leave [1]."
        assert [c["number"] for c in reply["citations"]] == [1]
        assert "sixteen weeks" in reply["citations"][0]["snippet"]
        usage = reply["usage"]
        assert (usage["provider"], usage["model"]) == ("openai", "scripted")
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (1200, 30)
        expected = (1200 * Decimal("2.50") + 30 * Decimal(10)) / 1_000_000
        assert Decimal(usage["cost_usd"]) == expected
        kept = client.get(f"/api/v1/chat/sessions/{reply['session_id']}", headers=admin).json()["messages"][
            -1
        ]
        assert (kept["provider"], kept["model"], Decimal(kept["cost_usd"])) == (
            "openai",
            "scripted",
            expected,
        )
        report = client.get("/api/v1/admin/usage", headers=admin).json()
        assert report["by_model"] == [
            {
                "key": "openai:scripted",
                "answers": 1,
                "prompt_tokens": 1200,
                "completion_tokens": 30,
                "total_tokens": 1230,
                "cost_usd": str(expected),
                "unpriced_answers": 0,
            }
        ]


def test_a_failing_remote_model_falls_through_to_the_extractive_answerer(
    database_url: str, tmp_path: Path, embedder: Any, server: FakeChat
) -> None:
    url, hits = server.url, server.asked
    with run_chat(database_url, tmp_path, embedder, f"openai:status-500@{url}") as (client, _api, admin):
        reply = client.post("/api/v1/chat", json={"question": QUESTION}, headers=admin).json()
        assert hits == ["status-500"]
        assert "sixteen" in reply["answer"] and reply["citations"]
        assert reply["usage"]["provider"] == "extractive"
        kept = client.get(f"/api/v1/chat/sessions/{reply['session_id']}", headers=admin).json()["messages"][
            -1
        ]
        assert kept["provider"] == "extractive"


def test_a_client_may_choose_one_answerer_of_the_chain_and_an_unknown_one_is_refused(
    database_url: str, tmp_path: Path, embedder: Any, server: FakeChat
) -> None:
    url, hits = server.url, server.asked
    providers = f"openai:first@{url}, openai:scripted@{url}, extractive"
    with run_chat(database_url, tmp_path, embedder, providers) as (client, _api, admin):
        chosen = client.post(
            "/api/v1/chat", json={"question": QUESTION, "model": "openai:scripted"}, headers=admin
        ).json()
        assert hits == ["scripted"]  # the first provider of the chain was not asked
        assert (chosen["usage"]["provider"], chosen["usage"]["model"]) == ("openai", "scripted")

        extractive = client.post(
            "/api/v1/chat", json={"question": QUESTION, "model": "extractive"}, headers=admin
        ).json()
        assert hits == ["scripted"] and extractive["usage"]["provider"] == "extractive"
        assert extractive["citations"]

        whole_chain = client.post(
            "/api/v1/chat", json={"question": QUESTION, "model": "docent"}, headers=admin
        ).json()
        assert hits == ["scripted", "first"] and whole_chain["usage"]["model"] == "first"

        before = client.get("/api/v1/chat/sessions", headers=admin).json()["total"]
        unknown = client.post("/api/v1/chat", json={"question": QUESTION, "model": "gpt-9"}, headers=admin)
        assert unknown.status_code == 422
        body = unknown.json()
        assert body["error"]["code"] == "validation_error" and "openai:scripted" in body["error"]["message"]
        assert client.get("/api/v1/chat/sessions", headers=admin).json()["total"] == before
        assert hits == ["scripted", "first"]


def test_each_remote_provider_may_have_its_own_key_and_timeout(
    database_url: str,
    tmp_path: Path,
    embedder: Any,
    server: FakeChat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, hits = server.url, server.asked
    monkeypatch.setenv("SCRIPTED_TEST_KEY", "sk-own-key")
    providers = (
        f"openai:status-500@{url}|timeout=2, openai:scripted@{url}|key_env=SCRIPTED_TEST_KEY, extractive"
    )
    with run_chat(database_url, tmp_path, embedder, providers) as (client, _api, admin):
        reply = client.post("/api/v1/chat", json={"question": QUESTION}, headers=admin).json()
        assert reply["usage"]["model"] == "scripted" and hits == ["status-500", "scripted"]
        assert server.authorizations == [
            ("status-500", "Bearer sk-test-key"),
            ("scripted", "Bearer sk-own-key"),
        ]
