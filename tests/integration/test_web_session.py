"""The web app's cookie sessions: sign-in, refresh, sign-out, CSRF refusals, and changing one's password."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from docent.types import Role
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, Api, assert_error

ORIGIN = "http://testserver"


def _sign_in(
    client: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, **extra: Any
) -> Any:
    return client.post(
        "/api/v1/auth/session",
        json={"email": email, "password": password, **extra},
        headers={"Origin": ORIGIN},
    )


def _csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["docent_csrf"], "Origin": ORIGIN}


def test_sign_in_sets_httponly_cookies_and_no_token_in_the_body(client: TestClient) -> None:
    response = _sign_in(client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == ADMIN_EMAIL
    assert "access_token" not in response.text and "refresh_token" not in response.text
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"docent_access", "docent_refresh", "docent_csrf"}
    assert "HttpOnly" in cookies["docent_access"] and "HttpOnly" in cookies["docent_refresh"]
    assert "HttpOnly" not in cookies["docent_csrf"], "the page reads it to echo it"
    assert "SameSite=lax" in cookies["docent_access"] and "SameSite=strict" in cookies["docent_refresh"]
    assert "Secure" not in cookies["docent_access"], "plain http on the test server"
    assert client.get("/api/v1/auth/me").json()["email"] == ADMIN_EMAIL


def test_over_https_the_cookies_are_secure_and_host_prefixed(settings: Any, embedder: Any) -> None:
    from tests.conftest import start_client

    with start_client(settings, embedder) as client:
        client.base_url = client.base_url.copy_with(scheme="https")
        response = client.post(
            "/api/v1/auth/session",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            headers={"Origin": "https://testserver"},
        )
        assert response.status_code == 200, response.text
        cookies = response.headers.get_list("set-cookie")
        assert {c.split("=", 1)[0] for c in cookies} == {
            "__Host-docent_access",
            "__Host-docent_refresh",
            "__Host-docent_csrf",
        }
        assert all("Secure" in c and "Path=/" in c for c in cookies)


def test_wrong_password_is_401_and_sets_no_cookie(client: TestClient) -> None:
    response = _sign_in(client, password="not-the-password")
    assert_error(response, 401, "invalid_credentials")
    assert "set-cookie" not in response.headers


def test_an_email_in_two_organisations_asks_for_the_organisation(client: TestClient) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.database.unit_of_work() as uow:
        container.users.create_in_org(uow, "acme", ADMIN_EMAIL, MEMBER_PASSWORD, Role.MEMBER)
        uow.commit()
    response = _sign_in(client, password=MEMBER_PASSWORD)
    body = assert_error(response, 400, "organization_required")
    assert body["error"]["details"] == {"organizations": ["acme"]}, "only where the password is right"
    assert_error(_sign_in(client, password="wrong-wrong-wrong"), 401, "invalid_credentials")
    signed_in = _sign_in(client, password=MEMBER_PASSWORD, organization="acme")
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["role"] == "member"


def test_a_cookie_session_changes_state_only_with_the_csrf_token(client: TestClient) -> None:
    _sign_in(client)
    body = {"name": "from the browser"}
    assert_error(client.post("/api/v1/api-keys", json=body), 403, "csrf_failed")
    assert_error(client.post("/api/v1/api-keys", json=body, headers={"X-CSRF-Token": "forged"}), 403)
    created = client.post("/api/v1/api-keys", json=body, headers=_csrf(client))
    assert created.status_code == 201, created.text
    assert client.get("/api/v1/api-keys").status_code == 200, "reading needs no token"


def test_a_cross_site_form_post_is_refused(client: TestClient) -> None:
    _sign_in(client)
    response = client.post(
        "/api/v1/chat",
        data={"question": "Who won?"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert_error(response, 403, "csrf_failed")


def test_a_foreign_origin_is_refused_even_with_the_token(client: TestClient) -> None:
    _sign_in(client)
    token = client.cookies["docent_csrf"]
    foreign = {"X-CSRF-Token": token, "Origin": "https://evil.example"}
    assert_error(client.post("/api/v1/api-keys", json={"name": "x"}, headers=foreign), 403, "csrf_failed")
    cross = {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    assert_error(client.post("/api/v1/api-keys", json={"name": "x"}, headers=cross), 403, "csrf_failed")
    same = {"X-CSRF-Token": token, "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/v1/api-keys", json={"name": "x"}, headers=same).status_code == 201


def test_sign_in_from_another_site_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/session",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert_error(response, 403, "csrf_failed")
    assert "set-cookie" not in response.headers


def test_bearer_calls_need_no_csrf_token(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/api-keys", json={"name": "ci"}, headers={**admin, "Origin": "https://elsewhere.example"}
    )
    assert response.status_code == 201, response.text


def test_refresh_rotates_the_cookies_and_needs_the_csrf_token(client: TestClient) -> None:
    _sign_in(client)
    old_refresh, old_access = client.cookies["docent_refresh"], client.cookies["docent_access"]
    assert_error(client.post("/api/v1/auth/session/refresh"), 403, "csrf_failed")
    assert client.cookies["docent_refresh"] == old_refresh, "a refused refresh rotates nothing"
    response = client.post("/api/v1/auth/session/refresh", headers=_csrf(client))
    assert response.status_code == 204, response.text
    assert client.cookies["docent_refresh"] != old_refresh
    assert client.cookies["docent_access"] != old_access
    assert client.get("/api/v1/auth/me").status_code == 200


def test_refresh_without_a_session_is_401(client: TestClient) -> None:
    assert_error(client.post("/api/v1/auth/session/refresh"), 401, "not_authenticated")


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    _sign_in(client)
    access, refresh, headers = (
        client.cookies["docent_access"],
        client.cookies["docent_refresh"],
        _csrf(client),
    )
    response = client.delete("/api/v1/auth/session", headers=headers)
    assert response.status_code == 204, response.text
    assert "docent_access" not in client.cookies
    bearer = {"Authorization": f"Bearer {access}"}
    assert_error(client.get("/api/v1/auth/me", headers=bearer), 401, "token_revoked")
    client.cookies.set("docent_refresh", refresh)
    assert_error(client.post("/api/v1/auth/session/refresh", headers=headers), 401, "token_revoked")


def test_a_member_changes_their_password_and_other_sessions_end(client: TestClient, api: Api) -> None:
    api.create_user(api.headers(), "pat@example.com")
    other = api.login("pat@example.com", MEMBER_PASSWORD)
    current = api.login("pat@example.com", MEMBER_PASSWORD)
    headers = {"Authorization": f"Bearer {current['access_token']}"}
    new = "A-brand-new-passw0rd"
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": MEMBER_PASSWORD, "new_password": new},
        headers=headers,
    )
    assert response.status_code == 204, response.text
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200, "this session stays"
    other_headers = {"Authorization": f"Bearer {other['access_token']}"}
    assert_error(client.get("/api/v1/auth/me", headers=other_headers), 401, "token_revoked")
    assert api.login("pat@example.com", new)["access_token"]
    old = client.post("/api/v1/auth/login", data={"username": "pat@example.com", "password": MEMBER_PASSWORD})
    assert_error(old, 401, "invalid_credentials")
    actions = [e["action"] for e in client.get("/api/v1/admin/audit", headers=api.headers()).json()["items"]]
    assert "auth.password_changed" in actions


def test_a_wrong_current_password_is_refused(client: TestClient, member: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not-my-password", "new_password": "Whatever-passw0rd-1"},
        headers=member,
    )
    assert_error(response, 400, "wrong_password")
    assert client.get("/api/v1/auth/me", headers=member).status_code == 200


def test_a_short_new_password_is_422(client: TestClient, member: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/auth/password",
        json={"current_password": MEMBER_PASSWORD, "new_password": "short"},
        headers=member,
    )
    assert_error(response, 422, "validation_error")


def test_password_change_through_a_cookie_needs_the_csrf_token(client: TestClient) -> None:
    _sign_in(client)
    body = {"current_password": ADMIN_PASSWORD, "new_password": "Another-passw0rd-9"}
    assert_error(client.post("/api/v1/auth/password", json=body), 403, "csrf_failed")
    assert client.post("/api/v1/auth/password", json=body, headers=_csrf(client)).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 200, "the session that changed it stays"
