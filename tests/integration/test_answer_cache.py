"""The answer cache through the API, on both databases: a repeated question is answered without any model,
any change to the asker's readable documents misses at once, and people with different permissions never
share an answer. A real HTTP server on 127.0.0.1 speaking the OpenAI protocol stands in for the model and
counts the calls; the Redis profile shares entries between two app instances."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from docent.answer.cache import InProcessAnswerCache, RedisAnswerCache
from tests.conftest import Api, make_settings, start_client
from tests.fakes import FakeChat, serve_chat
from tests.integration.test_chat import parse_sse

REDIS_URL = "redis://127.0.0.1:6379/15"
QUESTION = "How many weeks of paid parental leave do parents get?"
REPLY = ["Parents receive", " sixteen weeks", " of paid parental leave", " [1]", "."]
LEAVE = b"# Parental leave\n\nParents receive sixteen weeks of paid parental leave.\n"
LEAVE_V2 = b"# Parental leave\n\nParents receive eighteen weeks of paid parental leave since 2025.\n"
TRAVEL = b"# Travel\n\nTrain tickets are booked through the travel desk at least a week ahead.\n"
ADOPTION = b"# Adoption leave\n\nAdoptive parents receive the same weeks of paid parental leave.\n"


@pytest.fixture
def model() -> Iterator[FakeChat]:
    """Streams REPLY for answers; for a (non-streamed) rewrite, answers QUESTION. Records each call."""
    answer = {"prompt_tokens": 900, "completion_tokens": 20, "total_tokens": 920}
    rewrite = {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
    with serve_chat(FakeChat(reply=REPLY, rewrite=QUESTION, usage=answer, rewrite_usage=rewrite)) as fake:
        yield fake


@contextmanager
def served(
    database_url: str, data_dir: Path, embedder: Any, model_url: str | None, **overrides: Any
) -> Iterator[TestClient]:
    providers = f"openai:scripted@{model_url}, extractive" if model_url else "extractive"
    settings = make_settings(
        database_url,
        data_dir,
        llm_providers=providers,
        llm_api_key="sk-test-key",
        llm_timeout_seconds=5,
        **overrides,
    )
    with start_client(settings, embedder) as client:
        yield client


def ask(client: TestClient, headers: dict[str, str], question: str = QUESTION, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/chat", json={"question": question, **body}, headers=headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def upload(api: Api, headers: dict[str, str], name: str, content: bytes, **form: str) -> str:
    (document,) = api.upload(headers, [("files", (name, content, "text/markdown"))], **form)
    assert api.wait_for(headers, document["id"])["status"] == "completed"
    return str(document["id"])


def chunk_ids(client: TestClient, headers: dict[str, str], document_id: str) -> set[int]:
    response = client.get(f"/api/v1/documents/{document_id}/chunks", headers=headers)
    assert response.status_code == 200, response.text
    return {int(chunk["id"]) for chunk in response.json()["items"]}


def same_answer(one: dict[str, Any], two: dict[str, Any]) -> bool:
    return bool(one["answer"] == two["answer"] and one["citations"] == two["citations"])


def test_a_repeated_question_is_answered_from_the_cache_without_any_model(
    database_url: str, tmp_path: Path, embedder: Any, model: FakeChat
) -> None:
    url, calls = model.url, model.calls
    with served(database_url, tmp_path, embedder, url) as client:
        api = Api(client)
        admin = api.headers()
        upload(api, admin, "leave.md", LEAVE)

        first = ask(client, admin)
        assert calls == ["answer"] and first["usage"]["cached"] is False
        assert first["citations"] and first["usage"]["prompt_tokens"] == 900

        again = ask(client, admin)
        assert calls == ["answer"]  # no model was asked
        assert again["usage"]["cached"] is True and same_answer(again, first)
        usage = again["usage"]
        assert (usage["provider"], usage["model"]) == ("openai", "scripted")  # who wrote it first
        assert (usage["prompt_tokens"], usage["completion_tokens"], usage["cost_usd"]) == (0, 0, "0")
        assert again["message_id"] != first["message_id"]

        variant = ask(client, admin, "  how MANY weeks of paid parental leave do parents get ")
        assert calls == ["answer"] and variant["usage"]["cached"] is True and same_answer(variant, first)

        # The exchange is kept in the session like any other, with no tokens.
        kept = client.get(f"/api/v1/chat/sessions/{again['session_id']}", headers=admin).json()["messages"]
        assert [m["role"] for m in kept] == ["user", "assistant"]
        assert kept[1]["text"] == first["answer"] and kept[1]["prompt_tokens"] == 0
        assert kept[1]["citations"] == first["citations"]

        # Streamed: meta, the text as tokens, citations, done with `cached`.
        with client.stream(
            "POST", "/api/v1/chat", json={"question": QUESTION, "stream": True}, headers=admin
        ) as r:
            events = parse_sse(r.read().decode())
        assert calls == ["answer"]
        names = [name for name, _ in events]
        assert names[0] == "meta" and names[-2:] == ["citations", "done"] and "token" in names
        assert "".join(data["text"] for name, data in events if name == "token") == first["answer"]
        assert events[-2][1]["citations"] == first["citations"]
        done = events[-1][1]
        assert done["cached"] is True and done["usage"]["total_tokens"] == 0 and done["provider"] == "openai"

        # The OpenAI-compatible route asks the same question with no conversation: the same entry.
        response = client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]}, headers=admin
        )
        assert response.status_code == 200 and response.json()["cached"] is True
        assert calls == ["answer"]


def test_a_conversation_is_part_of_the_question(
    database_url: str, tmp_path: Path, embedder: Any, model: FakeChat
) -> None:
    """A model reads the conversation, so an answer given in one is not served in another; the same
    conversation sent again is a hit that needs neither the rewrite nor the answer model."""
    url, calls = model.url, model.calls
    with served(database_url, tmp_path, embedder, url) as client:
        api = Api(client)
        admin = api.headers()
        upload(api, admin, "leave.md", LEAVE)
        conversation = [
            {"role": "user", "content": "Tell me about parental leave."},
            {"role": "assistant", "content": "Parental leave is paid."},
            {"role": "user", "content": "How many weeks?"},
        ]

        def complete(messages: list[dict[str, str]]) -> dict[str, Any]:
            response = client.post("/v1/chat/completions", json={"messages": messages}, headers=admin)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        first = complete(conversation)
        assert calls == ["rewrite", "answer"] and first["cached"] is False
        again = complete(conversation)
        assert calls == ["rewrite", "answer"] and again["cached"] is True
        assert again["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
        other = complete([{**conversation[0], "content": "Tell me about leave."}, *conversation[1:]])
        assert calls == ["rewrite", "answer"] * 2 and other["cached"] is False
        # The standalone question alone (no conversation) is another entry too.
        assert ask(client, admin)["usage"]["cached"] is False


def test_any_change_to_a_readable_document_makes_old_answers_unreachable(
    database_url: str, tmp_path: Path, embedder: Any, model: FakeChat
) -> None:
    url, calls = model.url, model.calls
    with served(database_url, tmp_path, embedder, url) as client:
        api = Api(client)
        admin = api.headers()
        leave = upload(api, admin, "leave.md", LEAVE)

        def answered() -> tuple[dict[str, Any], int]:
            before = len(calls)
            reply = ask(client, admin)
            return reply, len(calls) - before

        reply, asked = answered()
        assert asked == 1 and not reply["usage"]["cached"]
        assert answered()[1] == 0

        # An upload misses at once: asked right after the 202, whether or not it is indexed yet.
        (travel,) = api.upload(admin, [("files", ("travel.md", TRAVEL, "text/markdown"))])
        reply, asked = answered()
        assert asked == 1 and not reply["usage"]["cached"]
        api.wait_for(admin, travel["id"])
        # Indexing changes the state again, unless the worker was done before that first question.
        assert answered()[1] in (0, 1)
        assert answered()[1] == 0

        # Reprocessing writes the version's chunks again under new ids (above the travel document's)
        # while the indexed version stays the same: a cached answer never cites a chunk that is gone.
        before = chunk_ids(client, admin, leave)
        assert {c["chunk_id"] for c in ask(client, admin)["citations"]} <= before
        response = client.post(f"/api/v1/documents/{leave}/reprocess", headers=admin)
        assert response.status_code == 202, response.text
        assert api.wait_for(admin, leave)["status"] == "completed"
        after = chunk_ids(client, admin, leave)
        assert after and not before & after
        reply, asked = answered()
        assert asked == 1 and not reply["usage"]["cached"]
        assert {c["chunk_id"] for c in reply["citations"]} <= after
        assert answered()[1] == 0

        # A new version of a document.
        response = client.put(
            f"/api/v1/documents/{leave}",
            files=[("files", ("leave.md", LEAVE_V2, "text/markdown"))],
            headers=admin,
        )
        assert response.status_code == 202, response.text
        assert api.wait_for(admin, leave)["status"] == "completed"
        reply, asked = answered()
        assert asked == 1 and not reply["usage"]["cached"]
        assert answered()[1] == 0

        # A deletion.
        assert client.delete(f"/api/v1/documents/{travel['id']}", headers=admin).status_code == 204
        reply, asked = answered()
        assert asked == 1 and not reply["usage"]["cached"]
        assert answered()[1] == 0


def test_a_change_of_group_membership_changes_what_is_served(
    database_url: str, tmp_path: Path, embedder: Any, model: FakeChat
) -> None:
    url, calls = model.url, model.calls
    with served(database_url, tmp_path, embedder, url) as client:
        api = Api(client)
        admin = api.headers()
        member_id = api.create_user(admin, "member@example.com")["id"]
        member = api.headers("member@example.com")
        group = client.post("/api/v1/groups", json={"name": "hr"}, headers=admin).json()
        public = upload(api, admin, "adoption.md", ADOPTION, visibility="org")
        hr_only = upload(api, admin, "leave.md", LEAVE, visibility="group", group_ids=group["id"])

        outside = ask(client, member)
        assert {c["document_id"] for c in outside["citations"]} == {public}
        assert ask(client, member)["usage"]["cached"] is True
        answers = calls.count("answer")

        joined = client.post(
            f"/api/v1/groups/{group['id']}/members", json={"user_id": member_id}, headers=admin
        )
        assert joined.status_code == 200, joined.text
        inside = ask(client, member)
        assert not inside["usage"]["cached"] and calls.count("answer") == answers + 1
        assert hr_only in {c["document_id"] for c in inside["citations"]}

        left = client.delete(f"/api/v1/groups/{group['id']}/members/{member_id}", headers=admin)
        assert left.status_code == 204
        after = ask(client, member)
        # The member reads again exactly what they read before joining: the answer given then is served,
        # and it cannot cite the group's document.
        assert hr_only not in {c["document_id"] for c in after["citations"]}
        assert after["usage"]["cached"] is True and same_answer(after, outside)


def test_people_with_different_permissions_never_share_an_answer(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    """With the extractive answerer, which quotes the chunks it read: whoever may not read the private
    document never receives a word of it, whoever asked first."""
    with served(database_url, tmp_path, embedder, None) as client:
        api = Api(client)
        admin = api.headers()
        for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
            api.create_user(admin, email)
        alice, bob, carol = (api.headers(f"{name}@example.com") for name in ("alice", "bob", "carol"))
        upload(api, admin, "leave.md", LEAVE, visibility="org")
        secret = b"# Bonus\n\nThe executive bonus pool this year is four million euros.\n"
        private = upload(api, alice, "bonus.md", secret, visibility="private")
        question = "How large is the executive bonus pool?"
        cache = client.app.state.container.answer_cache  # type: ignore[attr-defined]
        assert isinstance(cache, InProcessAnswerCache)

        mine = ask(client, alice, question)
        assert "four million" in mine["answer"] and private in {c["document_id"] for c in mine["citations"]}
        assert ask(client, alice, question)["usage"]["cached"] is True

        theirs = ask(client, bob, question)
        assert theirs["usage"]["cached"] is False
        assert "four million" not in theirs["answer"]
        assert private not in {c["document_id"] for c in theirs["citations"]}
        assert cache.held() == 2  # one entry each

        # Carol may read exactly what Bob may read (the organisation's documents, nothing of her own):
        # she receives Bob's answer, which is the answer she would have been given.
        same = ask(client, carol, question)
        assert same["usage"]["cached"] is True and same_answer(same, theirs)
        assert cache.held() == 2

        # Bob asks again after Alice: still his own entry, never hers.
        again = ask(client, bob, question)
        assert again["usage"]["cached"] is True and same_answer(again, theirs)
        assert "four million" not in again["answer"]


def test_with_redis_two_app_instances_share_the_answers(
    database_url: str, tmp_path: Path, embedder: Any, model: FakeChat
) -> None:
    url, calls = model.url, model.calls
    redis.Redis.from_url(REDIS_URL).ping()  # Redis must be running: CI starts it
    queue_name = f"docent-test-{uuid.uuid4().hex[:8]}"
    shared = {"redis_url": REDIS_URL, "queue_name": queue_name, "embedded_worker": True}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with (
            served(database_url, tmp_path, embedder, url, **shared) as one,
            served(database_url, tmp_path, embedder, url, **shared) as two,
        ):
            assert isinstance(one.app.state.container.answer_cache, RedisAnswerCache)  # type: ignore[attr-defined]
            api = Api(one)
            admin = api.headers()
            upload(api, admin, "leave.md", LEAVE)
            assert list(client.scan_iter(f"{queue_name}:answers:*")) == []

            first = ask(one, admin)
            assert calls == ["answer"] and not first["usage"]["cached"]
            assert len(list(client.scan_iter(f"{queue_name}:answers:*"))) == 1

            other = ask(two, Api(two).headers())
            assert calls == ["answer"] and other["usage"]["cached"] is True and same_answer(other, first)
    finally:
        keys = list(client.scan_iter(f"{queue_name}*"))
        if keys:
            client.delete(*keys)
        client.close()
