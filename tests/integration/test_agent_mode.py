"""POST /chat with `mode: agent`: a scripted OpenAI-protocol server on 127.0.0.1 plays a model that calls
Docent's `search` tool (the model name picks its script), on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docent.answer.agent_answer import AGENT_UNAVAILABLE
from tests.conftest import Api, make_settings, start_client
from tests.fakes import FakeChat, serve_chat
from tests.integration.test_chat import parse_sse

LEAVE = b"# Parental leave\n\nParents receive sixteen weeks of paid parental leave.\n"
TRAVEL = b"# Travel\n\nThe hotel cap in North America is 250 dollars a night.\n"
SALARIES = b"Salary bands\n\nThe salary band for senior engineers is 90,000 to 120,000 euros a year.\n"
QUESTION = "How long is parental leave, and what is the hotel cap in North America?"
BOTH = (
    "Parents receive sixteen weeks of paid leave [1]. Hotels in North America cost at most 250 dollars [2]."
)

TURNS: dict[str, list[str | tuple[str, ...]]] = {
    "agent": [("parental leave weeks",), ("hotel cap North America",), BOTH],
    "looper": [("parental leave",)],  # the same query for ever
    "wanderer": [("leave policy part {n}",)],  # a new query every time, for ever
    "snoop": [
        ("salary band senior engineers",),
        "The documents available to you do not cover this question.",
    ],
    "spender": [("parental leave",)],
    "garbage": [("parental leave",), "Parents receive sixteen weeks [1].<|im_end|><|im_start|>user"],
}
FINAL = "Parents receive sixteen weeks of paid parental leave [1]."


@contextmanager
def agent_app(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat, models: str, **overrides: Any
) -> Iterator[tuple[TestClient, Api, dict[str, str], dict[str, str], dict[str, str]]]:
    """Docent with `models` (each `|tools=true`) then the extractive answerer; the leave and travel
    documents shared with the organisation, the salaries private to the admin. Yields the client, the API
    helper, the admin's and a member's headers, and the documents' ids by name."""
    providers = ", ".join(f"openai:{m}@{fake.url}|tools=true" for m in models.split()) + ", extractive"
    settings = make_settings(
        database_url,
        tmp_path,
        llm_providers=providers,
        llm_api_key="sk-test",
        llm_prices="agent=2.50/10",
        llm_timeout_seconds=5,
        agent_top_k=1,
        agent_max_steps=3,
        **overrides,
    )
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        ids = {}
        for name, text, visibility in (
            ("leave.md", LEAVE, "org"),
            ("travel.md", TRAVEL, "org"),
            ("salaries.txt", SALARIES, "private"),
        ):
            (document,) = api.upload(admin, [("files", (name, text, "text/plain"))], visibility=visibility)
            assert api.wait_for(admin, document["id"])["status"] == "completed"
            ids[name] = document["id"]
        ids["member"] = api.create_user(admin, "reader@example.com")["id"]
        member = api.headers("reader@example.com")
        yield client, api, admin, member, ids


def ask(client: TestClient, headers: dict[str, str], **body: Any) -> tuple[dict[str, Any], list[Any]]:
    """The JSON answer (stream false) or the SSE events (stream true), as (answer or {}, events)."""
    response = client.post("/api/v1/chat", json={"mode": "agent", **body}, headers=headers)
    assert response.status_code == 200, response.text
    if body.get("stream"):
        return {}, parse_sse(response.text)
    return response.json(), []


@pytest.fixture
def fake() -> Iterator[FakeChat]:
    with serve_chat(FakeChat(tool_turns=dict(TURNS), tool_final={"looper": FINAL, "wanderer": FINAL})) as f:
        yield f


def test_the_model_searches_twice_and_cites_both_steps_in_the_stream(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    with agent_app(database_url, tmp_path, embedder, fake, "agent") as (client, _api, _admin, member, ids):
        _, events = ask(client, member, question=QUESTION, stream=True)
        names = [name for name, _ in events]
        assert names[:3] == ["meta", "step", "step"] and names[-2:] == ["citations", "done"]
        assert set(names[3:-2]) == {"token"}  # the answer's tokens only after every step
        first, second = events[1][1], events[2][1]
        assert (first["step"], first["query"], first["repeated"]) == (1, "parental leave weeks", False)
        assert [hit["document_id"] for hit in first["hits"]] == [ids["leave.md"]] and first["hits"][0][
            "title"
        ]
        assert second["step"] == 2 and second["hits"][0]["document_id"] == ids["travel.md"]
        text = "".join(data["text"] for name, data in events if name == "token")
        assert "sixteen weeks" in text and "250 dollars" in text
        citations = events[-2][1]["citations"]
        assert [(c["number"], c["document_id"]) for c in citations] == [
            (1, ids["leave.md"]),  # found by step 1
            (2, ids["travel.md"]),  # found by step 2
        ]
        assert "sixteen weeks" in citations[0]["snippet"] and "250 dollars" in citations[1]["snippet"]
        done = events[-1][1]
        assert done["mode"] == "agent" and (done["provider"], done["model"]) == ("openai", "agent")
        # Three model calls (two searches, then the answer), all counted and priced.
        assert fake.calls == ["tools"] * 3
        assert (done["usage"]["prompt_tokens"], done["usage"]["completion_tokens"]) == (33, 21)
        assert Decimal(done["cost_usd"]) == (33 * Decimal("2.50") + 21 * 10) / 1_000_000
        # What the model was sent: the search tool, and each step's passage as a tool result.
        last = fake.requests[-1]
        assert last["tools"][0]["function"]["name"] == "search"
        results = [m["content"] for m in last["messages"] if m["role"] == "tool"]
        assert "sixteen weeks" in results[0] and "id=1" in results[0]
        assert "250 dollars" in results[1] and "id=2" in results[1]


def test_the_json_answer_lists_the_steps_and_is_kept(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    with agent_app(database_url, tmp_path, embedder, fake, "agent") as (client, _api, admin, member, ids):
        reply, _ = ask(client, member, question=QUESTION)
        assert reply["mode"] == "agent" and reply["notice"] is None
        assert [(s["step"], s["query"]) for s in reply["steps"]] == [
            (1, "parental leave weeks"),
            (2, "hotel cap North America"),
        ]
        assert [c["document_id"] for c in reply["citations"]] == [ids["leave.md"], ids["travel.md"]]
        assert reply["usage"]["prompt_tokens"] == 33 and reply["abstained"] is False
        kept = client.get(f"/api/v1/chat/sessions/{reply['session_id']}", headers=member).json()
        assert kept["messages"][-1]["text"] == reply["answer"]
        assert kept["messages"][-1]["prompt_tokens"] == 33
        # What the steps showed is recorded as shown to the asker, through the chat route.
        shown = client.get("/api/v1/admin/access", params={"user_id": ids["member"]}, headers=admin).json()
        assert {(r["route"], r["document_id"]) for r in shown["items"]} == {
            ("chat", ids["leave.md"]),
            ("chat", ids["travel.md"]),
        }


@pytest.mark.parametrize("model", ["looper", "wanderer"])
def test_a_model_that_keeps_searching_stops_at_the_bound_and_still_answers(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat, model: str
) -> None:
    with agent_app(database_url, tmp_path, embedder, fake, model) as (client, _api, _admin, member, ids):
        _, events = ask(client, member, question="How long is parental leave?", stream=True)
        steps = [data for name, data in events if name == "step"]
        assert [s["step"] for s in steps] == [1, 2, 3]  # DOCENT_AGENT_MAX_STEPS
        repeated = [s["repeated"] for s in steps]
        assert repeated == ([False, True, True] if model == "looper" else [False, False, False])
        # Three turns that searched, then one asked to answer with what it has.
        assert fake.calls == ["tools"] * 4
        assert [r.get("tool_choice") for r in fake.requests] == ["auto"] * 3 + ["none"]
        text = "".join(data["text"] for name, data in events if name == "token")
        assert "sixteen weeks" in text
        assert [c["document_id"] for c in events[-2][1]["citations"]] == [ids["leave.md"]]
        assert events[-1][1]["mode"] == "agent" and events[-1][1]["provider"] == "openai"


def test_a_search_for_a_document_the_asker_may_not_read_never_shows_it(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    with agent_app(database_url, tmp_path, embedder, fake, "snoop") as (client, _api, admin, member, ids):
        response = client.post(
            "/api/v1/chat",
            json={
                "question": "What is the salary band for senior engineers?",
                "mode": "agent",
                "stream": True,
            },
            headers=member,
        )
        events = parse_sse(response.text)
        (step,) = [data for name, data in events if name == "step"]
        assert ids["salaries.txt"] not in [hit["document_id"] for hit in step["hits"]]
        assert events[-2][1]["citations"] == [] and events[-1][1]["abstained"] is True
        for secret in ("90,000", "120,000", "Salary bands", ids["salaries.txt"]):
            assert secret not in response.text
            assert secret not in json.dumps(fake.requests)  # nor was the model ever shown it

        # The same search by the owner finds it: the test above could fail.
        reply, _ = ask(client, admin, question="What is the salary band for senior engineers?")
        assert reply["steps"][0]["hits"][0]["document_id"] == ids["salaries.txt"]


def test_without_a_tool_calling_model_agent_mode_is_the_normal_path_and_says_so(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    settings = make_settings(database_url, tmp_path, llm_providers=f"openai:plain@{fake.url}, extractive")
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("leave.md", LEAVE, "text/markdown"))])
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        reply, _ = ask(client, admin, question="How long is parental leave?")
        assert reply["mode"] == "normal" and reply["notice"] == AGENT_UNAVAILABLE and reply["steps"] == []
        assert reply["citations"] and reply["usage"]["model"] == "plain"
        _, events = ask(client, admin, question="How many weeks of parental leave?", stream=True)
        assert "step" not in [name for name, _ in events]
        assert events[-1][1]["mode"] == "normal" and events[-1][1]["notice"] == AGENT_UNAVAILABLE
        assert "tools" not in fake.calls  # no request offered a tool
        unknown = client.post("/api/v1/chat", json={"question": "Leave?", "mode": "swarm"}, headers=admin)
        assert unknown.status_code == 422


def test_the_token_bound_ends_the_searches_and_the_chain_answers_from_what_was_found(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    fake.tool_usage = {"prompt_tokens": 600, "completion_tokens": 20, "total_tokens": 620}
    with agent_app(database_url, tmp_path, embedder, fake, "spender", agent_max_tokens=1000) as (
        client,
        _api,
        _admin,
        member,
        ids,
    ):
        reply, _ = ask(client, member, question="How long is parental leave?")
        assert fake.calls == ["tools"]  # a second call would not have fitted in 1000 tokens
        assert reply["mode"] == "agent" and len(reply["steps"]) == 1
        assert reply["usage"]["provider"] == "extractive"  # the chain, without the agent's provider
        assert [c["document_id"] for c in reply["citations"]] == [ids["leave.md"]]
        assert reply["usage"]["prompt_tokens"] >= 600  # the agent's call is counted


def test_the_time_bound_ends_the_searches(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    fake.tool_seconds = 0.5  # each turn takes longer than the whole agent may
    with agent_app(database_url, tmp_path, embedder, fake, "looper", agent_timeout_seconds=0.2) as (
        client,
        _api,
        _admin,
        member,
        ids,
    ):
        _, events = ask(client, member, question="How long is parental leave?", stream=True)
        assert fake.calls == ["tools"]
        assert [name for name, _ in events].count("step") == 1
        assert events[-1][1]["provider"] == "extractive" and events[-1][1]["mode"] == "agent"
        assert [c["document_id"] for c in events[-2][1]["citations"]] == [ids["leave.md"]]


def test_a_garbage_answer_after_the_searches_falls_through_and_is_never_shown(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    with agent_app(database_url, tmp_path, embedder, fake, "garbage") as (client, _api, _admin, member, ids):
        response = client.post(
            "/api/v1/chat",
            json={"question": "How long is parental leave?", "mode": "agent", "stream": True},
            headers=member,
        )
        assert "<|" not in response.text and "im_end" not in response.text
        events = parse_sse(response.text)
        assert events[-1][1]["provider"] == "extractive" and events[-1][1]["mode"] == "agent"
        assert [c["document_id"] for c in events[-2][1]["citations"]] == [ids["leave.md"]]


def test_the_agents_calls_count_against_the_budget_and_a_spent_one_means_no_agent(
    database_url: str, tmp_path: Path, embedder: Any, fake: FakeChat
) -> None:
    # Agent mode reserves every token it may use (DOCENT_AGENT_MAX_TOKENS; the chain after it has no model):
    # at its default of 20,000, that budget lets one agent answer start, and what that one leaves no second.
    with agent_app(database_url, tmp_path, embedder, fake, "agent") as (client, _api, admin, member, _ids):
        cap = {"max_tokens": 20_000}
        response = client.put("/api/v1/admin/budgets/organization", json=cap, headers=admin)
        assert response.status_code == 200, response.text
        first, _ = ask(client, member, question=QUESTION)
        assert first["mode"] == "agent" and first["usage"]["total_tokens"] == 54  # three calls of 18
        usage = client.get("/api/v1/me/usage", headers=member).json()
        assert usage["organization"]["tokens"] == 54 and usage["organization"]["reserved_tokens"] == 0
        assert usage["organization"]["budget"]["remaining_tokens"] == 20_000 - 54
        second, _ = ask(client, member, question=QUESTION)
        assert fake.calls == ["tools"] * 3  # not asked again
        assert second["mode"] == "normal" and second["usage"]["provider"] == "extractive"
        assert "budget" in second["notice"] and AGENT_UNAVAILABLE in second["notice"]
