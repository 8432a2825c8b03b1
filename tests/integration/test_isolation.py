"""Two organisations on one installation never see each other's users or groups."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from docent.config import Settings
from docent.container import build_container
from docent.types import Role
from tests.conftest import MEMBER_PASSWORD, TEST_HASHER, Api, assert_error


@pytest.fixture
def other_org_admin(client: TestClient, settings: Settings, api: Api) -> dict[str, str]:
    container = build_container(settings, hasher=TEST_HASHER)
    with container.database.unit_of_work() as uow:
        container.users.create_in_org(uow, "globex", "boss@globex.example", MEMBER_PASSWORD, Role.ADMIN)
        uow.commit()
    container.close()
    return api.headers("boss@globex.example")


def test_organisations_are_isolated(
    client: TestClient, api: Api, admin: dict[str, str], other_org_admin: dict[str, str]
) -> None:
    ours = api.create_user(admin, "ours@example.com")
    group = client.post("/api/v1/groups", json={"name": "Team"}, headers=admin).json()
    theirs = api.create_user(other_org_admin, "theirs@globex.example")

    their_users = client.get("/api/v1/users", headers=other_org_admin).json()
    assert {u["email"] for u in their_users["items"]} == {"boss@globex.example", "theirs@globex.example"}
    assert client.get("/api/v1/groups", headers=other_org_admin).json()["total"] == 0

    # Our objects do not exist for them: 404, never 403.
    assert_error(client.get(f"/api/v1/users/{ours['id']}", headers=other_org_admin), 404, "user_not_found")
    assert_error(
        client.patch(f"/api/v1/users/{ours['id']}", json={"is_active": False}, headers=other_org_admin), 404
    )
    assert_error(client.delete(f"/api/v1/users/{ours['id']}", headers=other_org_admin), 404)
    assert_error(client.get(f"/api/v1/groups/{group['id']}", headers=other_org_admin), 404, "group_not_found")
    assert_error(client.delete(f"/api/v1/groups/{group['id']}", headers=other_org_admin), 404)
    assert_error(
        client.post(
            f"/api/v1/groups/{group['id']}/members", json={"user_id": theirs["id"]}, headers=other_org_admin
        ),
        404,
    )
    # Nor can our admin pull their user into our group.
    assert_error(
        client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": theirs["id"]}, headers=admin),
        404,
    )
    assert client.get(f"/api/v1/users/{ours['id']}", headers=admin).json()["is_active"] is True

    our_audit = client.get("/api/v1/admin/audit?page_size=500", headers=admin).text
    assert "globex" not in our_audit and theirs["id"] not in our_audit


def test_same_email_in_two_orgs_needs_the_org_to_log_in(
    client: TestClient, settings: Settings, api: Api, admin: dict[str, str]
) -> None:
    api.create_user(admin, "shared@example.com")
    container = build_container(settings, hasher=TEST_HASHER)
    with container.database.unit_of_work() as uow:
        container.users.create_in_org(
            uow, "initech", "shared@example.com", "Another-Passw0rd-1!", Role.MEMBER
        )
        uow.commit()
    container.close()
    ambiguous = client.post(
        "/api/v1/auth/login", data={"username": "shared@example.com", "password": MEMBER_PASSWORD}
    )
    # The right password: told to choose, among the organisations where that password is right.
    body = assert_error(ambiguous, 400, "organization_required")
    assert body["error"]["details"] == {"organizations": ["default"]}
    wrong_password = {"username": "shared@example.com", "password": "nope-nope"}
    wrong = client.post("/api/v1/auth/login", data=wrong_password)
    assert_error(wrong, 401, "invalid_credentials")
    scoped = client.post(
        "/api/v1/auth/login",
        data={"username": "shared@example.com", "password": "Another-Passw0rd-1!", "organization": "initech"},
    )
    assert scoped.status_code == 200
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {scoped.json()['access_token']}"}
    ).json()
    assert me["org_id"] != client.get("/api/v1/auth/me", headers=admin).json()["org_id"]
    assert uuid.UUID(me["org_id"])
