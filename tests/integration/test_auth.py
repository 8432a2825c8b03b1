"""Login, rotation, reuse detection, logout and throttling, on both databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, SECRET_KEY, Api, assert_error


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_login_returns_the_token_shape_and_is_audited(client: TestClient, api: Api) -> None:
    tokens = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert 0 < tokens["expires_in"] <= 3600
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    events = client.get("/api/v1/admin/audit?action=auth.login", headers=headers).json()["items"]
    assert [e["action"] for e in events] == ["auth.login"]


def test_login_is_case_insensitive_on_email(api: Api) -> None:
    assert api.login(ADMIN_EMAIL.upper(), ADMIN_PASSWORD)["access_token"]


def test_me_names_the_caller(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/api/v1/auth/me", headers=admin).json()
    assert me["email"] == ADMIN_EMAIL
    assert me["role"] == "admin"
    assert me["is_active"] is True
    assert me["credential"] == "access_token"
    assert "password_hash" not in me


def test_wrong_password_and_unknown_account_look_the_same(client: TestClient) -> None:
    wrong = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": "nope-nope-nope"})
    unknown = client.post("/api/v1/auth/login", data={"username": "ghost@example.com", "password": "nope"})
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


def test_login_needs_both_form_fields(client: TestClient) -> None:
    assert_error(client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL}), 422, "validation_error")
    assert_error(client.post("/api/v1/auth/login", json={"username": ADMIN_EMAIL, "password": "x"}), 422)


def test_oversized_login_fields_are_422(client: TestClient) -> None:
    response = client.post("/api/v1/auth/login", data={"username": "a" * 400, "password": "x" * 300})
    body = assert_error(response, 422, "validation_error")
    assert "x" * 300 not in response.text, "submitted values are never echoed"
    assert {tuple(d["loc"]) for d in body["error"]["details"]} == {("body", "username"), ("body", "password")}


def test_refresh_rotates_and_reuse_revokes_the_family(client: TestClient, api: Api) -> None:
    first = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert _me(client, rotated["access_token"]) == 200

    reuse = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_error(reuse, 401, "token_revoked")
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}), 401)
    # Access tokens minted after the reused token was first used may be the copier's: they stop too.
    assert _me(client, rotated["access_token"]) == 401
    # Another login session of the same user is untouched.
    assert _me(client, api.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]) == 200


def test_reuse_is_in_the_audit_log(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    first = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    events = client.get("/api/v1/admin/audit?action=auth.refresh_reuse_detected", headers=admin).json()
    assert events["total"] == 1


def test_logout_revokes_access_and_refresh(client: TestClient, api: Api) -> None:
    tokens = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = client.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=bearer
    )
    assert response.status_code == 204
    assert _me(client, tokens["access_token"]) == 401
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


def test_logout_without_body_ends_the_session(client: TestClient, api: Api) -> None:
    tokens = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)


def test_wrong_token_types_are_refused(client: TestClient, api: Api) -> None:
    tokens = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert _me(client, tokens["refresh_token"]) == 401
    refresh_with_access = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_error(refresh_with_access, 401, "invalid_token")
    not_access = jwt.encode(
        {
            "iss": "docent",
            "typ": "refresh",
            "sub": "x",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        SECRET_KEY,
        algorithm="HS256",
    )
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {not_access}"}), 401)
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)


def test_expired_and_tampered_tokens_are_401(client: TestClient, api: Api) -> None:
    token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], issuer="docent")
    past = datetime.now(UTC) - timedelta(hours=2)
    claims.update(iat=int(past.timestamp()), exp=int((past + timedelta(minutes=15)).timestamp()))
    expired = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    assert_error(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}), 401, "token_expired"
    )

    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert_error(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tampered}"}), 401, "invalid_token"
    )
    forged = jwt.encode(claims | {"exp": int(time.time()) + 600}, "another-key-" * 4, algorithm="HS256")
    assert_error(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
    )
    unsigned = jwt.encode(claims | {"exp": int(time.time()) + 600}, None, algorithm="none")
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"}), 401)
    assert_error(client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"}), 401)


def test_repeated_failures_are_slowed_with_429(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    api.create_user(admin, "victim@example.com")
    codes = [
        client.post("/api/v1/auth/login", data={"username": "victim@example.com", "password": f"guess-{i}"})
        for i in range(7)
    ]
    assert [r.status_code for r in codes[:5]] == [401] * 5
    limited = codes[5]
    assert_error(limited, 429, "too_many_attempts")
    assert int(limited.headers["Retry-After"]) > 0
    # Even the right password waits until the window passes: guessing cannot be confirmed.
    right = client.post(
        "/api/v1/auth/login", data={"username": "victim@example.com", "password": MEMBER_PASSWORD}
    )
    assert right.status_code == 429
    # Another account from the same address is not locked by this one's failures.
    assert api.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]


def test_failed_logins_are_audited(client: TestClient, admin: dict[str, str]) -> None:
    client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": "wrong-password"})
    events = client.get("/api/v1/admin/audit?action=auth.login_failed", headers=admin).json()
    assert events["total"] == 1
    assert events["items"][0]["details"] == {"reason": "password"}


def test_deactivated_user_loses_tokens_keys_and_login(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    user = api.create_user(admin, "leaver@example.com")
    tokens = api.login("leaver@example.com", MEMBER_PASSWORD)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=bearer).json()["key"]
    assert _me(client, key) == 200

    assert (
        client.patch(f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=admin).status_code
        == 200
    )
    assert _me(client, tokens["access_token"]) == 401
    assert _me(client, key) == 401
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    response = client.post(
        "/api/v1/auth/login", data={"username": "leaver@example.com", "password": MEMBER_PASSWORD}
    )
    assert_error(response, 401, "invalid_credentials")

    # Reactivation lets them log in again; the old session, refresh token and API key stay dead.
    client.patch(f"/api/v1/users/{user['id']}", json={"is_active": True}, headers=admin)
    fresh = api.login("leaver@example.com", MEMBER_PASSWORD)["access_token"]
    assert _me(client, tokens["access_token"]) == 401
    assert_error(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}), 401, "token_revoked"
    )
    assert_error(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401)
    listed = client.get("/api/v1/api-keys", headers={"Authorization": f"Bearer {fresh}"}).json()
    assert listed["items"] == []
    events = client.get("/api/v1/admin/audit?action=user.deactivated", headers=admin).json()
    assert [e["details"]["api_keys_revoked"] for e in events["items"]] == [1]


def test_password_change_ends_existing_sessions(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    user = api.create_user(admin, "changer@example.com")
    old = api.login("changer@example.com", MEMBER_PASSWORD)
    new_password = "A-Brand-New-Passw0rd!"
    response = client.patch(f"/api/v1/users/{user['id']}", json={"password": new_password}, headers=admin)
    assert response.status_code == 200
    assert _me(client, old["access_token"]) == 401
    assert api.login("changer@example.com", new_password)["access_token"]
