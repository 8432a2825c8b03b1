"""Who saw what, on both databases: every route that shows chunks records who was shown which chunk of
which document version, when and through which route; admins ask by document, by user and between two
times, paged; old records are pruned; the record can be switched off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from docent.auth.access import Shown
from docent.config import Settings
from tests.conftest import MEMBER_PASSWORD, Api, assert_error, make_settings, start_client

MEMO = b"# Badges\n\nBadges are renewed every January at the front desk of the main building.\n"
QUESTION = "When are badges renewed?"


def access(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/admin/access", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def show_everything(client: TestClient, headers: dict[str, str], document_id: str) -> None:
    """Each route that shows a chunk or a file, once."""
    assert client.post("/api/v1/search", json={"query": "badges renewed"}, headers=headers).status_code == 200
    assert client.post("/api/v1/chat", json={"question": QUESTION}, headers=headers).status_code == 200
    body = {"model": "docent", "messages": [{"role": "user", "content": QUESTION}]}
    assert client.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
    assert client.get(f"/api/v1/documents/{document_id}/chunks", headers=headers).status_code == 200
    assert client.get(f"/api/v1/documents/{document_id}/file", headers=headers).status_code == 200


def test_every_route_that_shows_a_chunk_is_recorded_and_admins_ask_by_document_and_user(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str]
) -> None:
    (uploaded,) = api.upload(member, [("files", ("badges.md", MEMO, "text/markdown"))], visibility="org")
    document = api.wait_for(member, uploaded["id"])
    assert document["status"] == "completed"
    other = api.create_user(admin, "other@example.com")
    other_headers = api.headers("other@example.com", MEMBER_PASSWORD)
    before = datetime.now(UTC) - timedelta(seconds=1)
    show_everything(client, member, document["id"])
    assert client.post("/api/v1/search", json={"query": "badges"}, headers=other_headers).status_code == 200

    seen = access(client, admin, document_id=document["id"], page_size=500)
    routes = {r["route"] for r in seen["items"]}
    assert routes == {"search", "chat", "v1.chat.completions", "documents.chunks", "documents.file"}
    assert {r["email"] for r in seen["items"]} == {"member@example.com", "other@example.com"}
    chunk = next(r for r in seen["items"] if r["route"] == "documents.chunks")
    assert chunk["version"] == 1 and chunk["chunk_id"] is not None and chunk["title"] == document["title"]
    assert next(r for r in seen["items"] if r["route"] == "documents.file")["chunk_id"] is None
    assert all(before <= datetime.fromisoformat(r["shown_at"]) for r in seen["items"])

    by_other = access(client, admin, user_id=other["id"])
    assert by_other["total"] == 1 and by_other["items"][0]["route"] == "search"
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert access(client, admin, document_id=document["id"], **{"from": later})["total"] == 0
    assert access(client, admin, document_id=document["id"], to=before.isoformat())["total"] == 0
    first = access(client, admin, document_id=document["id"], page_size=2)
    second = access(client, admin, document_id=document["id"], page_size=2, page=2)
    assert first["total"] == seen["total"] and len(first["items"]) == 2
    assert first["items"][0]["shown_at"] >= second["items"][0]["shown_at"]
    assert_error(client.get("/api/v1/admin/access", headers=member), 403, "forbidden")
    assert_error(client.get("/api/v1/admin/access?from=yesterday", headers=admin), 422, "validation_error")


def test_a_cached_answer_records_its_citations(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str]
) -> None:
    (document,) = api.upload(member, [("files", ("badges.md", MEMO, "text/markdown"))])
    assert api.wait_for(member, document["id"])["status"] == "completed"
    for _ in range(2):
        answer = client.post("/api/v1/chat", json={"question": QUESTION}, headers=member).json()
    assert answer["usage"]["cached"] is True and answer["citations"]
    records = access(client, admin, document_id=document["id"])["items"]
    cited = {c["chunk_id"] for c in answer["citations"]}
    assert sum(1 for r in records if r["route"] == "chat" and r["chunk_id"] in cited) == 2


def test_records_older_than_the_retention_are_pruned(client: TestClient, admin: dict[str, str]) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]
    me = client.get("/api/v1/auth/me", headers=admin).json()
    with container.database.unit_of_work(write=False) as uow:
        principal = container.auth.local_principal(uow, me["email"], None)
    document_id = _any_document(client, admin)
    container.access.record(principal, "search", [Shown(document_id, 1, 7)])
    assert container.access.flush() == 1
    assert container.access.prune(datetime.now(UTC) + timedelta(days=364)) == 0
    assert access(client, admin)["total"] == 1
    assert container.access.prune(datetime.now(UTC) + timedelta(days=366)) == 1
    assert access(client, admin)["total"] == 0


def _any_document(client: TestClient, headers: dict[str, str]) -> uuid.UUID:
    files = [("files", ("note.txt", b"A short note.", "text/plain"))]
    response = client.post("/api/v1/documents", files=files, headers=headers)
    return uuid.UUID(response.json()["documents"][0]["id"])


def test_the_record_can_be_switched_off(database_url: str, tmp_path: Path, embedder: Any) -> None:
    settings: Settings = make_settings(database_url, tmp_path, access_log_enabled=False)
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("badges.md", MEMO, "text/markdown"))])
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        show_everything(client, admin, document["id"])
        assert access(client, admin)["total"] == 0
