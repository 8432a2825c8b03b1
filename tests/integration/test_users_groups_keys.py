"""User, group and API key management, on both databases."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_EMAIL, MEMBER_PASSWORD, Api, assert_error


def test_admin_creates_lists_and_pages_users(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    for i in range(3):
        api.create_user(admin, f"user{i}@example.com")
    page = client.get("/api/v1/users?page=1&page_size=2", headers=admin).json()
    assert page["total"] == 4 and page["page"] == 1 and page["page_size"] == 2
    assert len(page["items"]) == 2
    second = client.get("/api/v1/users?page=2&page_size=2", headers=admin).json()
    emails = {u["email"] for u in page["items"] + second["items"]}
    assert emails == {ADMIN_EMAIL, "user0@example.com", "user1@example.com", "user2@example.com"}
    admins = client.get("/api/v1/users?role=admin", headers=admin).json()
    assert [u["email"] for u in admins["items"]] == [ADMIN_EMAIL]


def test_created_user_shape_never_holds_the_hash(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/users",
        json={"email": "New.Person@Example.com", "password": MEMBER_PASSWORD, "full_name": "New Person"},
        headers=admin,
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new.person@example.com"
    assert user["role"] == "member" and user["is_active"] is True
    assert "password" not in response.text and "argon2" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": MEMBER_PASSWORD},
        {"email": "a@example.com", "password": "short"},
        {"email": "a@example.com", "password": MEMBER_PASSWORD, "role": "god"},
        {"email": "a@example.com", "password": "x" * 1000},
        {"email": "a" * 400 + "@example.com", "password": MEMBER_PASSWORD},
        {"email": "a@example.com", "password": MEMBER_PASSWORD, "full_name": "n" * 500},
        {"password": MEMBER_PASSWORD},
        ["not", "an", "object"],
    ],
)
def test_invalid_users_are_422_and_change_nothing(
    client: TestClient, admin: dict[str, str], body: object
) -> None:
    assert_error(client.post("/api/v1/users", json=body, headers=admin), 422, "validation_error")
    assert client.get("/api/v1/users", headers=admin).json()["total"] == 1


def test_duplicate_email_is_409(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    api.create_user(admin, "twice@example.com")
    response = client.post(
        "/api/v1/users", json={"email": "TWICE@example.com", "password": MEMBER_PASSWORD}, headers=admin
    )
    assert_error(response, 409, "email_taken")


def test_update_role_and_deactivate(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    user = api.create_user(admin, "promote@example.com")
    promoted = client.patch(f"/api/v1/users/{user['id']}", json={"role": "admin"}, headers=admin).json()
    assert promoted["role"] == "admin"
    deactivated = client.delete(f"/api/v1/users/{user['id']}", headers=admin)
    assert deactivated.status_code == 200 and deactivated.json()["is_active"] is False
    assert client.get(f"/api/v1/users/{user['id']}", headers=admin).json()["is_active"] is False
    actions = {e["action"] for e in client.get("/api/v1/admin/audit", headers=admin).json()["items"]}
    assert {"user.created", "user.updated", "user.deactivated"} <= actions


def test_role_change_takes_effect_on_the_next_request(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    user = api.create_user(admin, "rising@example.com")
    member = api.headers("rising@example.com")
    assert client.get("/api/v1/users", headers=member).status_code == 403
    client.patch(f"/api/v1/users/{user['id']}", json={"role": "admin"}, headers=admin)
    assert client.get("/api/v1/users", headers=member).status_code == 200


def test_the_last_admin_cannot_be_removed(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/api/v1/auth/me", headers=admin).json()
    assert_error(client.delete(f"/api/v1/users/{me['id']}", headers=admin), 409, "last_admin")
    assert_error(client.patch(f"/api/v1/users/{me['id']}", json={"role": "member"}, headers=admin), 409)
    assert client.get("/api/v1/auth/me", headers=admin).json()["role"] == "admin"


def test_unknown_user_is_404(client: TestClient, admin: dict[str, str]) -> None:
    assert_error(client.get(f"/api/v1/users/{uuid.uuid4()}", headers=admin), 404, "user_not_found")
    assert_error(client.get("/api/v1/users/not-a-uuid", headers=admin), 422)


def test_groups_and_memberships(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    alice = api.create_user(admin, "alice@example.com")
    created = client.post("/api/v1/groups", json={"name": "Finance", "description": "money"}, headers=admin)
    assert created.status_code == 201
    group = created.json()
    assert group["member_ids"] == []
    added = client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": alice["id"]}, headers=admin)
    assert added.json()["member_ids"] == [alice["id"]]
    again = client.post(f"/api/v1/groups/{group['id']}/members", json={"user_id": alice["id"]}, headers=admin)
    assert again.json()["member_ids"] == [alice["id"]], "adding twice is idempotent"
    listing = client.get("/api/v1/groups", headers=admin).json()
    assert listing["total"] == 1 and listing["items"][0]["member_ids"] == [alice["id"]]

    assert_error(
        client.post("/api/v1/groups", json={"name": "Finance"}, headers=admin), 409, "group_name_taken"
    )
    assert_error(client.post("/api/v1/groups", json={"name": "   "}, headers=admin), 422)
    ghost = client.post(
        f"/api/v1/groups/{group['id']}/members", json={"user_id": str(uuid.uuid4())}, headers=admin
    )
    assert_error(ghost, 404, "user_not_found")

    removed = client.delete(f"/api/v1/groups/{group['id']}/members/{alice['id']}", headers=admin)
    assert removed.status_code == 204
    assert client.get(f"/api/v1/groups/{group['id']}", headers=admin).json()["member_ids"] == []
    assert_error(client.delete(f"/api/v1/groups/{group['id']}/members/{alice['id']}", headers=admin), 404)
    assert client.delete(f"/api/v1/groups/{group['id']}", headers=admin).status_code == 204
    assert_error(client.get(f"/api/v1/groups/{group['id']}", headers=admin), 404, "group_not_found")


def test_api_keys_are_shown_once_and_authenticate(client: TestClient, member: dict[str, str]) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "laptop"}, headers=member)
    assert created.status_code == 201
    key = created.json()
    assert set(key) >= {"id", "name", "prefix", "key"}
    assert key["key"].startswith(key["prefix"])
    bearer = {"Authorization": f"Bearer {key['key']}"}
    me = client.get("/api/v1/auth/me", headers=bearer).json()
    assert me["email"] == "member@example.com" and me["credential"] == "api_key"

    listing = client.get("/api/v1/api-keys", headers=member)
    assert key["key"] not in listing.text
    [listed] = listing.json()["items"]
    assert listed["prefix"] == key["prefix"] and listed["last_used_at"] is not None

    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=member).status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=bearer), 401, "token_revoked")
    assert client.get("/api/v1/api-keys", headers=member).json()["items"] == []
    assert_error(client.delete(f"/api/v1/api-keys/{key['id']}", headers=member), 404, "api_key_not_found")


def test_a_key_belongs_to_its_owner(
    client: TestClient, api: Api, admin: dict[str, str], member: dict[str, str]
) -> None:
    key = client.post("/api/v1/api-keys", json={"name": "mine"}, headers=member).json()
    assert_error(client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin), 404)
    assert client.get("/api/v1/api-keys", headers=admin).json()["items"] == []


def test_unknown_or_malformed_api_keys_are_401(client: TestClient) -> None:
    for credential in ("dk_00000000_nope", "dk_", "dk_" + "x" * 5000):
        assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {credential}"}), 401)


def test_invalid_api_key_names_are_422(client: TestClient, member: dict[str, str]) -> None:
    for body in ({"name": ""}, {"name": "n" * 300}, {}, {"name": 5}):
        assert_error(client.post("/api/v1/api-keys", json=body, headers=member), 422)
