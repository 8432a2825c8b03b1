"""POST /chat and its history on both databases, with the real embedding model and the extractive answerer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import Api, assert_error
from tests.samples import sample_files

LEAVE = "Parents receive sixteen weeks of paid parental leave, taken within the first year."


def ask(client: TestClient, headers: dict[str, str], question: str, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/chat", json={"question": question, **body}, headers=headers)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def chunk_text(client: TestClient, headers: dict[str, str], document_id: str, chunk_id: int) -> str:
    response = client.get(f"/api/v1/documents/{document_id}/chunks", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    return next(str(c["text"]) for c in items if c["id"] == chunk_id)


def normalize(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def corpus(api: Api, admin: dict[str, str]) -> list[dict[str, Any]]:
    documents = api.upload(admin, sample_files())
    for document in documents:
        assert api.wait_for(admin, document["id"])["status"] == "completed"
    return documents


def test_an_answer_cites_chunks_it_quotes(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    reply = ask(client, admin, "How many weeks of paid parental leave do parents get?")
    assert "sixteen" in reply["answer"].lower()
    assert reply["citations"], reply
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", reply["answer"])}
    assert numbers and numbers <= {c["number"] for c in reply["citations"]}
    for citation in reply["citations"]:
        text = chunk_text(client, admin, citation["document_id"], citation["chunk_id"])
        assert normalize(citation["snippet"]) in normalize(text)
        assert {"title", "version", "page", "section", "score"} <= set(citation)
    usage = reply["usage"]
    assert usage["provider"] == "extractive"
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost_usd"] == "0"
    reply = ask(client, admin, "How often must passwords be rotated?")
    assert "90" in reply["answer"] and reply["citations"]
    reply = ask(client, admin, "When are expense reports due?")
    assert "30 days" in reply["answer"] and reply["citations"]


def test_it_says_it_does_not_know_when_the_documents_are_silent(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    reply = ask(client, admin, "What is the recipe for the cafeteria lasagna?")
    assert reply["citations"] == []
    assert "do not cover" in reply["answer"]


def test_every_answer_says_whether_it_abstained_and_how_confident_it_is(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    covered = ask(client, admin, "How often must passwords be rotated?")
    assert covered["abstained"] is False and 0 <= covered["confidence"] <= 1
    silent = ask(client, admin, "Who won the 1998 football world cup?")
    assert silent["abstained"] is True and silent["citations"] == []
    assert 0 <= silent["confidence"] < covered["confidence"]
    body = {"question": "When are expense reports due?", "stream": True}
    with client.stream("POST", "/api/v1/chat", json=body, headers=admin) as response:
        done = parse_sse(response.read().decode())[-1]
    assert done[0] == "done" and done[1]["abstained"] is False and 0 <= done[1]["confidence"] <= 1
    completion = client.post(
        "/v1/chat/completions",
        json={
            "model": "docent",
            "messages": [{"role": "user", "content": "What is the capital of Mongolia?"}],
        },
        headers=admin,
    ).json()
    assert completion["abstained"] is True and 0 <= completion["confidence"] < covered["confidence"]


def test_a_question_about_a_document_the_asker_may_not_read_is_not_covered(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str]
) -> None:
    salaries = b"Salary bands\n\nThe salary band for senior engineers is 90,000 to 120,000 euros a year.\n"
    stipend = b"On-call\n\nEngineers on call receive a stipend of 300 euros for each week on call.\n"
    private = api.upload(admin, [("files", ("salaries.txt", salaries, "text/plain"))], visibility="private")
    shared = api.upload(admin, [("files", ("on-call.txt", stipend, "text/plain"))], visibility="org")
    for document in (*private, *shared):
        assert api.wait_for(admin, document["id"])["status"] == "completed"

    reply = ask(client, member, "What is the salary band for senior engineers?")

    assert reply["abstained"] is True and reply["citations"] == [], reply
    assert "stipend" not in reply["answer"]
    assert ask(client, admin, "What is the salary band for senior engineers?")["abstained"] is False


def test_a_follow_up_uses_the_session(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    (document,) = api.upload(
        admin, [("files", ("leave.md", f"# Parental leave\n\n{LEAVE}\n".encode(), "text/markdown"))]
    )
    api.wait_for(admin, document["id"])
    first = ask(client, admin, "How many weeks of paid parental leave do parents get?")
    follow = ask(client, admin, "Within what period must it be taken?", session_id=first["session_id"])
    assert follow["session_id"] == first["session_id"]
    assert "year" in follow["answer"].lower() and follow["citations"]
    session = client.get(f"/api/v1/chat/sessions/{first['session_id']}", headers=admin).json()
    roles = [m["role"] for m in session["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert "parental leave" in (session["messages"][2]["rewritten_question"] or "").lower()


CLAIMS = (
    "Expense claims must be submitted within 30 days of the purchase through the finance portal. "
    "Claims older than 90 days are not reimbursed at all. Meals are reimbursed up to 40 euros a day."
)


def test_a_follow_up_without_a_model_answers_from_its_own_sentence(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    (document,) = api.upload(
        admin, [("files", ("claims.md", f"# Expenses\n\n{CLAIMS}\n".encode(), "text/markdown"))]
    )
    api.wait_for(admin, document["id"])
    first = ask(client, admin, "How long do I have to submit an expense claim?")
    assert "30 days" in first["answer"]

    follow = ask(client, admin, "And what if the claim is older than that?", session_id=first["session_id"])

    # Not the first answer again: the sentence about old claims.
    assert "older than 90 days" in follow["answer"], follow
    assert "30 days" not in follow["answer"], follow


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of an SSE body; keep-alive comments (`: ping`) are skipped, as clients do."""
    events = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        if lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_stream_sends_meta_tokens_citations_done_and_keeps_the_answer(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    with client.stream(
        "POST",
        "/api/v1/chat",
        json={"question": "How often must passwords be rotated?", "stream": True},
        headers=admin,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-2:] == ["citations", "done"]
    assert set(names[1:-2]) == {"token"} and len(names) > 3
    text = "".join(data["text"] for name, data in events if name == "token")
    assert "90" in text
    meta = events[0][1]
    session = client.get(f"/api/v1/chat/sessions/{meta['session_id']}", headers=admin).json()
    kept = session["messages"][-1]
    assert kept["id"] == meta["message_id"] and kept["text"] == text
    assert kept["citations"] == events[-2][1]["citations"]


def test_sessions_are_private_and_can_be_deleted(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    reply = ask(client, member, "When are expense reports due?")
    sid = reply["session_id"]
    listed = client.get("/api/v1/chat/sessions", headers=member).json()
    assert [s["id"] for s in listed["items"]] == [sid] and listed["total"] == 1
    assert client.get("/api/v1/chat/sessions", headers=admin).json()["total"] == 0
    assert_error(client.get(f"/api/v1/chat/sessions/{sid}", headers=admin), 404)
    assert_error(client.delete(f"/api/v1/chat/sessions/{sid}", headers=admin), 404)
    response = client.post("/api/v1/chat", json={"question": "And later?", "session_id": sid}, headers=admin)
    assert_error(response, 404)
    response = client.post(
        f"/api/v1/chat/messages/{reply['message_id']}/feedback", json={"rating": "up"}, headers=admin
    )
    assert_error(response, 404)
    assert client.delete(f"/api/v1/chat/sessions/{sid}", headers=member).status_code == 204
    assert_error(client.get(f"/api/v1/chat/sessions/{sid}", headers=member), 404)
    assert client.get("/api/v1/chat/sessions", headers=member).json()["total"] == 0


def test_feedback_is_validated_and_replaced(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    reply = ask(client, admin, "When are expense reports due?")
    url = f"/api/v1/chat/messages/{reply['message_id']}/feedback"
    assert_error(client.post(url, json={"rating": "meh"}, headers=admin), 422)
    assert_error(client.post(url, json={}, headers=admin), 422)
    first = client.post(url, json={"rating": "up"}, headers=admin)
    assert first.status_code == 200 and first.json()["rating"] == "up"
    second = client.post(url, json={"rating": "down", "comment": "too short"}, headers=admin)
    assert second.status_code == 200
    assert second.json()["rating"] == "down" and second.json()["comment"] == "too short"


def test_question_validation(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.post("/api/v1/chat", json={"question": ""}, headers=admin), 422)
    assert_error(client.post("/api/v1/chat", json={"question": "   "}, headers=admin), 422)
    assert_error(client.post("/api/v1/chat", json={"question": "x" * 2001}, headers=admin), 422)


def test_admin_usage_sums_answers(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    ask(client, admin, "When are expense reports due?")
    ask(client, member, "How often must passwords be rotated?")
    ask(client, member, "What is the recipe for the cafeteria lasagna?")
    assert_error(client.get("/api/v1/admin/usage", headers=member), 403)
    report = client.get("/api/v1/admin/usage", headers=admin).json()
    assert report["total"]["answers"] == 3
    by_user = {row["key"]: row["answers"] for row in report["by_user"]}
    assert by_user == {"admin@example.com": 1, "member@example.com": 2}
    assert sum(row["answers"] for row in report["by_day"]) == 3
    assert sum(row["answers"] for row in report["by_model"]) == 3
    empty = client.get(
        "/api/v1/admin/usage", params={"from": "2000-01-01", "to": "2000-01-02"}, headers=admin
    )
    assert empty.json()["total"]["answers"] == 0


def test_a_member_never_cites_another_members_private_document(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    api.create_user(admin, "alice@example.com")
    api.create_user(admin, "bob@example.com")
    alice = api.headers("alice@example.com")
    bob = api.headers("bob@example.com")
    secret = b"# Bonus\n\nThe executive bonus pool this year is four million euros.\n"
    (document,) = api.upload(alice, [("files", ("bonus.md", secret, "text/markdown"))], visibility="private")
    api.wait_for(alice, document["id"])
    question = "How large is the executive bonus pool?"
    mine = ask(client, alice, question)
    assert "four million" in mine["answer"] and mine["citations"]
    theirs = ask(client, bob, question)
    assert theirs["citations"] == [] and "four million" not in theirs["answer"]


def test_a_stream_closed_early_keeps_what_was_sent(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    """A reader who goes away closes the stream (the SSE response closes the service's generator): the
    question and the part of the answer already sent are kept."""
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.database.unit_of_work(write=False) as uow:
        principal = container.auth.local_principal(uow, "admin@example.com", None)
    prepared = container.chat.prepare(principal, "How often must passwords be rotated?")
    events = container.chat.stream(prepared)
    sent = [next(events), next(events), next(events)]
    events.close()
    assert [event.name for event in sent] == ["meta", "token", "token"]
    session = client.get(f"/api/v1/chat/sessions/{prepared.session_id}", headers=admin).json()
    question, answer = session["messages"]
    assert question["text"] == "How often must passwords be rotated?"
    assert answer["id"] == str(prepared.message_id)
    assert answer["text"] == "".join(event.text for event in sent[1:])
    assert answer["provider"] == "interrupted" and answer["citations"] == []


@pytest.mark.parametrize("stream", [False, True])
def test_one_question_resolves_the_readers_scope_once(
    client: TestClient, admin: dict[str, str], corpus: list[dict[str, Any]], stream: bool
) -> None:
    """The group memberships (what the asker may read) are read once per question, and that scope serves the
    answer cache's lookup, retrieval and the cache's store alike."""
    engine = client.app.state.container.database.engine  # type: ignore[attr-defined]
    membership_reads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "group_memberships" in statement:
            membership_reads.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post(
            "/api/v1/chat",
            json={"question": "When are expense reports due?", "stream": stream},
            headers=admin,
        )
        assert response.status_code == 200 and "30 days" in response.text
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(membership_reads) == 1
