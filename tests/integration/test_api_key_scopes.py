"""API keys with scopes and an expiry, on both databases: `read` searches and chats but never writes,
`write` uploads, `admin` is what the admin role may do; an expired key is 401, an out-of-scope call 403,
both in the error shape; a key never grants more than its maker has."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from docent.db.tables import ApiKey
from tests.conftest import Api, assert_error

MEMO = b"Badges are renewed every January at the front desk."


def make_key(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/api-keys", json={"name": "integration", **body}, headers=headers)
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def bearer(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def upload(client: TestClient, headers: dict[str, str]) -> Any:
    files = [("files", (f"memo-{uuid.uuid4().hex[:6]}.txt", MEMO, "text/plain"))]
    return client.post("/api/v1/documents", files=files, headers=headers)


def search(client: TestClient, headers: dict[str, str]) -> Any:
    return client.post("/api/v1/search", json={"query": "badges"}, headers=headers)


def test_a_read_key_searches_and_chats_and_never_writes(
    client: TestClient, api: Api, member: dict[str, str]
) -> None:
    (document,) = api.upload(member, [("files", ("memo.txt", MEMO, "text/plain"))])
    key = make_key(client, member, scopes=["read"])
    assert key["scopes"] == ["read"] and key["expires_at"] is None
    reader = bearer(key)
    assert search(client, reader).status_code == 200
    assert (
        client.post("/api/v1/chat", json={"question": "When are badges renewed?"}, headers=reader).status_code
        == 200
    )
    body = {"model": "docent", "messages": [{"role": "user", "content": "When are badges renewed?"}]}
    assert client.post("/v1/chat/completions", json=body, headers=reader).status_code == 200
    assert client.get("/api/v1/documents", headers=reader).status_code == 200
    assert client.get(f"/api/v1/documents/{document['id']}/chunks", headers=reader).status_code == 200
    refused = assert_error(upload(client, reader), 403, "insufficient_scope")
    assert refused["error"]["details"] == {"required_scope": "write"}
    patch = client.patch(f"/api/v1/documents/{document['id']}", json={"title": "x"}, headers=reader)
    assert_error(patch, 403, "insufficient_scope")
    assert_error(
        client.delete(f"/api/v1/documents/{document['id']}", headers=reader), 403, "insufficient_scope"
    )
    assert_error(
        client.post("/api/v1/api-keys", json={"name": "more"}, headers=reader), 403, "insufficient_scope"
    )
    assert client.get(f"/api/v1/documents/{document['id']}", headers=member).json()["title"] == "memo.txt"


def test_a_write_key_uploads_but_does_not_search(client: TestClient, member: dict[str, str]) -> None:
    writer = bearer(make_key(client, member, scopes=["write"]))
    assert upload(client, writer).status_code == 202
    assert_error(search(client, writer), 403, "insufficient_scope")
    default = make_key(client, member)  # read and write, as keys made before scopes behave for members
    assert default["scopes"] == ["read", "write"]
    assert (
        upload(client, bearer(default)).status_code == 202
        and search(client, bearer(default)).status_code == 200
    )


def test_only_an_admin_key_does_what_the_admin_role_does(
    client: TestClient, admin: dict[str, str], member: dict[str, str]
) -> None:
    plain = bearer(make_key(client, admin))
    assert_error(client.get("/api/v1/users", headers=plain), 403, "forbidden")
    assert_error(client.get("/api/v1/admin/audit", headers=plain), 403, "forbidden")
    powerful = bearer(make_key(client, admin, scopes=["read", "write", "admin"]))
    assert client.get("/api/v1/users", headers=powerful).status_code == 200
    assert_error(
        client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=member), 403
    )
    # a key never mints a stronger one
    refused = client.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["read", "write", "admin"]}, headers=plain
    )
    assert_error(refused, 403, "forbidden")
    writer = bearer(make_key(client, member, scopes=["write"]))
    refused = client.post("/api/v1/api-keys", json={"name": "x", "scopes": ["read"]}, headers=writer)
    assert_error(refused, 403, "insufficient_scope")


def test_an_expired_key_is_401_and_bad_grants_are_refused(client: TestClient, member: dict[str, str]) -> None:
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    key = make_key(client, member, scopes=["read"], expires_at=later)
    assert key["expires_at"] is not None
    assert search(client, bearer(key)).status_code == 200
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.database.unit_of_work() as uow:  # time passes
        past = datetime.now(UTC) - timedelta(seconds=1)
        uow.session.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(expires_at=past))
        uow.commit()
    response = search(client, bearer(key))
    assert_error(response, 401, "token_expired")
    assert response.headers["www-authenticate"].startswith("Bearer")
    for bad in ({"scopes": []}, {"scopes": ["everything"]}, {"expires_at": "2030-01-01T00:00:00"}):  # no zone
        assert_error(client.post("/api/v1/api-keys", json={"name": "x", **bad}, headers=member), 422)
    # A well-formed instant that cannot be honoured is a 400, not a schema violation.
    for when in (datetime.now(UTC) - timedelta(minutes=1), datetime.now(UTC) + timedelta(days=5000)):
        body = {"name": "x", "expires_at": when.isoformat()}
        assert_error(client.post("/api/v1/api-keys", json=body, headers=member), 400, "bad_request")
    listed = client.get("/api/v1/api-keys", headers=member).json()["items"]
    assert [k["id"] for k in listed] == [key["id"]]
