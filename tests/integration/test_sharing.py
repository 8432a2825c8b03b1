"""Sharing after upload, through the API on both databases: PATCH (title, tags, visibility, groups) and
shares with single users by the owner or an admin, each audited and effective on the very next search,
chat, cached answer and `/v1` call; everything else refused in the error shape, changing nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MEMBER_PASSWORD, Api, assert_error

SECRET = b"The quarterly offsite will be held at the Lighthouse Hotel in Porto."
QUESTION = "Where will the quarterly offsite be held?"


@pytest.fixture
def people(api: Api, admin: dict[str, str]) -> dict[str, Any]:
    users = {name: api.create_user(admin, f"{name}@example.com") for name in ("owner", "reader", "other")}
    headers = {name: api.headers(f"{name}@example.com", MEMBER_PASSWORD) for name in users}
    return {"ids": {name: user["id"] for name, user in users.items()}, "headers": headers}


@pytest.fixture
def document(api: Api, people: dict[str, Any]) -> str:
    owner = people["headers"]["owner"]
    (uploaded,) = api.upload(owner, [("files", ("offsite.txt", SECRET, "text/plain"))], visibility="private")
    assert api.wait_for(owner, uploaded["id"])["status"] == "completed"
    document_id: str = uploaded["id"]
    return document_id


def sees(client: TestClient, headers: dict[str, str], **filters: Any) -> bool:
    body = {"query": "where is the quarterly offsite held", "top_k": 5, "filters": filters}
    response = client.post("/api/v1/search", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return "lighthouse" in json.dumps(response.json()).lower()


def told(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/chat", json={"question": QUESTION}, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def told_by_v1(client: TestClient, headers: dict[str, str]) -> bool:
    body = {"model": "docent", "messages": [{"role": "user", "content": QUESTION}]}
    response = client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return "lighthouse" in json.dumps(response.json()).lower()


def knows(client: TestClient, headers: dict[str, str]) -> bool:
    return "lighthouse" in json.dumps(told(client, headers)).lower()


def patch(client: TestClient, document_id: str, headers: dict[str, str], **body: Any) -> Any:
    return client.patch(f"/api/v1/documents/{document_id}", json=body, headers=headers)


def test_a_share_with_one_user_applies_to_the_next_search_chat_cached_answer_and_v1_call(
    client: TestClient, people: dict[str, Any], document: str
) -> None:
    owner, reader, other = (people["headers"][n] for n in ("owner", "reader", "other"))
    assert not sees(client, reader) and not knows(client, reader) and not told_by_v1(client, reader)
    assert knows(client, owner) and knows(client, owner)  # the second answer is the cached one
    response = client.post(
        f"/api/v1/documents/{document}/shares", json={"user_id": people["ids"]["reader"]}, headers=owner
    )
    assert response.status_code == 200, response.text
    assert response.json()["shared_with"] == [people["ids"]["reader"]]
    assert response.json()["visibility"] == "private"
    assert sees(client, reader) and knows(client, reader) and told_by_v1(client, reader)
    assert knows(client, reader)  # now from the cache
    assert not sees(client, other) and not knows(client, other)  # nobody else
    response = client.delete(f"/api/v1/documents/{document}/shares/{people['ids']['reader']}", headers=owner)
    assert response.status_code == 204, response.text
    assert not sees(client, reader) and not knows(client, reader) and not told_by_v1(client, reader)
    assert client.get(f"/api/v1/documents/{document}", headers=reader).status_code == 404


def test_visibility_and_groups_change_at_once(
    client: TestClient, api: Api, admin: dict[str, str], people: dict[str, Any], document: str
) -> None:
    owner, reader, other = (people["headers"][n] for n in ("owner", "reader", "other"))
    group = client.post("/api/v1/groups", json={"name": "events"}, headers=admin).json()["id"]
    response = client.post(
        f"/api/v1/groups/{group}/members", json={"user_id": people["ids"]["reader"]}, headers=admin
    )
    assert response.status_code in (200, 201, 204), response.text
    assert knows(client, other) is False
    response = patch(client, document, owner, visibility="group", group_ids=[group])
    assert response.status_code == 200, response.text
    assert response.json()["group_ids"] == [group]
    assert sees(client, reader) and knows(client, reader)
    assert not sees(client, other) and not knows(client, other)
    response = patch(client, document, owner, visibility="org")
    assert response.status_code == 200 and response.json()["group_ids"] == [], response.text
    assert sees(client, other) and knows(client, other) and told_by_v1(client, other)
    assert patch(client, document, admin, visibility="private").status_code == 200  # an admin may too
    assert not sees(client, other) and not knows(client, other) and not told_by_v1(client, other)
    assert not sees(client, reader) and not knows(client, reader)


def test_title_and_tags_change_search_filters_and_cached_citations(
    client: TestClient, people: dict[str, Any], document: str
) -> None:
    owner = people["headers"]["owner"]
    assert not sees(client, owner, tags=["events"])
    first = told(client, owner)
    assert first["citations"] and first["citations"][0]["title"] == "offsite.txt"
    response = patch(client, document, owner, title="Offsite 2027", tags=["Events", "travel"])
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Offsite 2027" and response.json()["tags"] == ["events", "travel"]
    assert sees(client, owner, tags=["events"])
    assert told(client, owner)["citations"][0]["title"] == "Offsite 2027"  # not the cached old title
    assert patch(client, document, owner, tags=[]).status_code == 200
    assert not sees(client, owner, tags=["events"])
    assert sees(client, owner)


def test_only_the_owner_or_an_admin_changes_sharing_and_bad_input_changes_nothing(
    client: TestClient, admin: dict[str, str], people: dict[str, Any], document: str
) -> None:
    owner, reader, other = (people["headers"][n] for n in ("owner", "reader", "other"))
    assert_error(patch(client, document, reader, visibility="org"), 404, "document_not_found")
    assert patch(client, document, owner, visibility="org").status_code == 200
    assert_error(patch(client, document, reader, visibility="private"), 403, "forbidden")
    share = {"user_id": people["ids"]["other"]}
    assert_error(client.post(f"/api/v1/documents/{document}/shares", json=share, headers=reader), 403)
    assert_error(patch(client, document, owner, visibility="everyone-on-earth"), 422, "validation_error")
    assert_error(patch(client, document, owner, visibility="group"), 400, "bad_request")
    assert_error(patch(client, document, owner, group_ids=[str(uuid.uuid4())]), 400, "bad_request")
    assert_error(
        patch(client, document, owner, visibility="group", group_ids=[str(uuid.uuid4())]),
        404,
        "group_not_found",
    )
    assert_error(patch(client, document, owner, title=""), 422, "validation_error")
    assert_error(patch(client, document, owner, title="   "), 422, "validation_error")
    assert_error(patch(client, document, owner, tags=["x" * 101]), 400, "bad_request")
    assert_error(patch(client, document, owner, tags=[f"t{i}" for i in range(51)]), 422, "validation_error")
    assert_error(patch(client, str(uuid.uuid4()), owner, title="x"), 404, "document_not_found")
    missing = {"user_id": str(uuid.uuid4())}
    assert_error(client.post(f"/api/v1/documents/{document}/shares", json=missing, headers=owner), 404)
    not_shared = f"/api/v1/documents/{document}/shares/{people['ids']['other']}"
    assert_error(client.delete(not_shared, headers=owner), 404, "not_found")
    after = client.get(f"/api/v1/documents/{document}", headers=owner).json()
    assert (after["visibility"], after["title"], after["tags"], after["shared_with"]) == (
        "org",
        "offsite.txt",
        [],
        [],
    )
    assert sees(client, other)


def test_every_change_is_audited(
    client: TestClient, admin: dict[str, str], people: dict[str, Any], document: str
) -> None:
    owner = people["headers"]["owner"]
    assert patch(client, document, owner, visibility="org", title="Offsite").status_code == 200
    assert patch(client, document, owner, visibility="org").status_code == 200  # no change: no event
    share = {"user_id": people["ids"]["reader"]}
    assert client.post(f"/api/v1/documents/{document}/shares", json=share, headers=owner).status_code == 200
    assert client.post(f"/api/v1/documents/{document}/shares", json=share, headers=owner).status_code == 200
    url = f"/api/v1/documents/{document}/shares/{people['ids']['reader']}"
    assert client.delete(url, headers=owner).status_code == 204
    events = client.get("/api/v1/admin/audit?page_size=100", headers=admin).json()["items"]
    mine = [e for e in events if e["target_id"] == document and e["action"] != "document.upload"]
    assert sorted(e["action"] for e in mine) == ["document.share", "document.unshare", "document.update"]
    (update,) = (e for e in mine if e["action"] == "document.update")
    assert update["details"] == {
        "visibility": {"from": "private", "to": "org"},
        "title": {"from": "offsite.txt", "to": "Offsite"},
    }
    assert all(e["actor_id"] == people["ids"]["owner"] for e in mine)
