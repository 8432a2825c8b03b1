"""Single sign-on against a real OpenID provider on localhost (tests/oidc_provider.py): the browser's two
legs are followed by hand, so every redirect, cookie and refusal is seen."""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from docent.api.app import create_app
from docent.auth.audit import RequestContext
from docent.auth.oidc import Identity
from docent.container import Container, build_container
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    TEST_HASHER,
    assert_error,
    make_settings,
)
from tests.http_servers import serving
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, OpenIdProvider

_JSON = {"Accept": "application/json"}  # an API client: refusals in the error shape
_BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def provider() -> Iterator[OpenIdProvider]:
    with serving(OpenIdProvider()) as httpd:
        httpd.user = {
            "email": "Ada@Example.com",
            "name": "Ada Lovelace",
            "groups": ["engineering", "finance"],
        }
        yield httpd


def _client(
    database_url: str, tmp_path: Path, embedder: Any, provider: OpenIdProvider, **extra: Any
) -> TestClient:
    settings = make_settings(
        database_url, tmp_path, oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, **extra,
    )  # fmt: skip
    return TestClient(create_app(settings, build_container(settings, embedder=embedder)))


def _to_provider(client: TestClient) -> str:
    """The first leg: Docent sends the browser to the provider, which sends it back with a code."""
    started = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert started.status_code == 302, started.text
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(started.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert "code_verifier" not in query
    back = httpx.get(started.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    callback = urllib.parse.urlsplit(back.headers["location"])
    assert callback.path == "/api/v1/auth/oidc/callback"
    return f"{callback.path}?{callback.query}"


def _group_members(client: TestClient, admin: dict[str, str]) -> dict[str, set[str]]:
    users = client.get("/api/v1/users?page_size=100", headers=admin).json()["items"]
    email = {u["id"]: u["email"] for u in users}
    groups = client.get("/api/v1/groups", headers=admin).json()["items"]
    return {g["name"]: {email[member] for member in g["member_ids"]} for g in groups}


def test_sso_signs_in_creates_the_user_and_keeps_groups_in_step(
    database_url: str, tmp_path: Path, embedder: Any, provider: OpenIdProvider
) -> None:
    with _client(database_url, tmp_path, embedder, provider) as client:
        info = client.get("/api/v1/auth/oidc").json()
        assert info == {"enabled": True, "login_url": "/api/v1/auth/oidc/login", "password_login": True}
        landed = client.get(_to_provider(client), follow_redirects=False)
        assert landed.status_code == 303 and landed.headers["location"] == "/"
        me = client.get("/api/v1/auth/me")  # the session cookies, as after a password sign-in
        assert me.status_code == 200, me.text
        assert me.json()["email"] == "ada@example.com" and me.json()["role"] == "member"
        assert client.cookies.get("docent_csrf")
        admin = {"Authorization": "Bearer " + client.post(
            "/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]}  # fmt: skip
        assert _group_members(client, admin) == {
            "engineering": {"ada@example.com"},
            "finance": {"ada@example.com"},
        }

        client.cookies.clear()
        provider.user = {**provider.user, "groups": ["engineering", "research"]}
        assert client.get(_to_provider(client), follow_redirects=False).status_code == 303
        assert _group_members(client, admin) == {
            "engineering": {"ada@example.com"}, "finance": set(), "research": {"ada@example.com"}
        }  # fmt: skip
        users = client.get("/api/v1/users?page_size=100", headers=admin).json()["items"]
        assert [u["email"] for u in users].count("ada@example.com") == 1  # the same user, not a second one
        audit = client.get("/api/v1/admin/audit?page_size=100", headers=admin).json()["items"]
        assert any(
            e["action"] == "auth.login" and (e.get("details") or {}).get("method") == "oidc" for e in audit
        )


@pytest.mark.parametrize("fault", ["wrong_nonce", "expired", "other_key", "other_audience", "no_id_token"])
def test_sso_refuses_a_bad_id_token(
    fault: str, tmp_path: Path, embedder: Any, provider: OpenIdProvider, sqlite_template: Path
) -> None:
    database = tmp_path / "docent.db"
    database.write_bytes(sqlite_template.read_bytes())
    with _client(f"sqlite:///{database}", tmp_path, embedder, provider) as client:
        provider.fault = fault
        refused = client.get(_to_provider(client), headers=_JSON, follow_redirects=False)
        assert_error(refused, 401, "sso_failed")
        assert "set-cookie" not in refused.headers or "docent_access" not in refused.headers["set-cookie"]
        assert client.get("/api/v1/auth/me").status_code == 401
        landed = client.get(_to_provider(client), headers=_BROWSER, follow_redirects=False)
        _shows_the_sign_in_page(client, landed, "sso_failed")
        assert client.get("/api/v1/auth/me").status_code == 401


def _shows_the_sign_in_page(client: TestClient, landed: Any, code: str) -> str:
    """A browser's failed sign-in lands on the sign-in page, which says why in words of its own."""
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == f"/login?sso_error={code}"
    assert 'docent_oidc_flow=""' in landed.headers.get("set-cookie", "")  # the spent flow is forgotten
    page = client.get(landed.headers["location"], headers=_BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    message = page.text.split("<p class='page-message'>", 1)[1].split("</p>", 1)[0]
    assert message and "{" not in message and code not in message
    return message


def test_sso_refuses_a_wrong_state_a_missing_flow_and_a_provider_error(
    tmp_path: Path, embedder: Any, provider: OpenIdProvider, sqlite_template: Path
) -> None:
    database = tmp_path / "docent.db"
    database.write_bytes(sqlite_template.read_bytes())
    with _client(f"sqlite:///{database}", tmp_path, embedder, provider) as client:
        callback = _to_provider(client)
        path, _, query = callback.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        forged = {**params, "state": "forged"}
        wrong_state = client.get(path, params=forged, headers=_JSON, follow_redirects=False)
        assert_error(wrong_state, 401, "sso_failed")
        in_browser = client.get(path, params=forged, headers=_BROWSER, follow_redirects=False)
        assert "try again" in _shows_the_sign_in_page(client, in_browser, "sso_failed").lower()
        callback = _to_provider(client)
        params = dict(urllib.parse.parse_qsl(callback.partition("?")[2]))
        denied = client.get(path, params={"error": "access_denied", "state": params["state"]}, headers=_JSON)
        assert_error(denied, 401, "sso_failed")
        client.cookies.clear()  # another browser: it never started this sign-in
        assert_error(client.get(callback, headers=_JSON, follow_redirects=False), 401, "sso_failed")
        assert provider.token_requests == 0  # nothing was exchanged for any of them
        # A made-up code shows the general words, never text from the address.
        page = client.get("/login?sso_error=%3Cb%3EPay%20here%3C%2Fb%3E", headers=_BROWSER).text
        assert "Pay here" not in page and "Single sign-on did not succeed" in page


def test_sso_only_disables_local_passwords_and_the_page_offers_sso(
    tmp_path: Path, embedder: Any, provider: OpenIdProvider, sqlite_template: Path
) -> None:
    database = tmp_path / "docent.db"
    database.write_bytes(sqlite_template.read_bytes())
    with _client(f"sqlite:///{database}", tmp_path, embedder, provider, oidc_only=True) as client:
        assert client.get("/api/v1/auth/oidc").json()["password_login"] is False
        login = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert_error(login, 403, "password_login_disabled")
        session = client.post("/api/v1/auth/session", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert_error(session, 403, "password_login_disabled")
        assert client.get(_to_provider(client), follow_redirects=False).status_code == 303


def test_sso_routes_without_configuration(client: TestClient) -> None:
    assert client.get("/api/v1/auth/oidc").json() == {
        "enabled": False,
        "login_url": None,
        "password_login": True,
    }
    login = client.get("/api/v1/auth/oidc/login", headers=_JSON, follow_redirects=False)
    assert_error(login, 404, "sso_not_configured")
    callback = client.get("/api/v1/auth/oidc/callback?code=x&state=y", headers=_JSON)
    assert_error(callback, 404, "sso_not_configured")
    in_browser = client.get("/api/v1/auth/oidc/login", headers=_BROWSER, follow_redirects=False)
    assert "not configured" in _shows_the_sign_in_page(client, in_browser, "sso_not_configured")


def _sign_in(client: TestClient, provider: OpenIdProvider, **claims: Any) -> Any:
    """One sign-in by the provider's next user (`claims`; None leaves a claim out), in a fresh browser,
    answered as JSON if refused."""
    client.cookies.clear()
    provider.user = claims
    return client.get(_to_provider(client), headers=_JSON, follow_redirects=False)


def test_sso_finds_users_by_issuer_and_subject_not_by_email(
    database_url: str, tmp_path: Path, embedder: Any, provider: OpenIdProvider
) -> None:
    with _client(database_url, tmp_path, embedder, provider) as client:
        admin = {"Authorization": "Bearer " + client.post(
            "/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]}  # fmt: skip

        def emails() -> list[str]:
            users = client.get("/api/v1/users?page_size=100", headers=admin).json()["items"]
            return sorted(u["email"] for u in users if u["email"] != ADMIN_EMAIL)

        def me() -> dict[str, Any]:
            response = client.get("/api/v1/auth/me")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        assert _sign_in(client, provider, sub="ada-1", email="ada@example.com").status_code == 303
        ada = me()["id"]
        # The email changes at the provider: the same user, with the new email, and no second account.
        assert _sign_in(client, provider, sub="ada-1", email="ada.king@example.com").status_code == 303
        assert me() == {**me(), "id": ada, "email": "ada.king@example.com"}
        assert emails() == ["ada.king@example.com"]
        # Another account at the provider with Ada's (verified) email does not become Ada.
        taken = _sign_in(client, provider, sub="mallory", email="ada.king@example.com")
        assert_error(taken, 409, "sso_account_conflict")
        assert client.get("/api/v1/auth/me").status_code == 401
        in_browser = client.get(_to_provider(client), headers=_BROWSER, follow_redirects=False)
        notice = _shows_the_sign_in_page(client, in_browser, "sso_account_conflict")
        assert "already linked" in notice
        assert client.get("/api/v1/auth/me").status_code == 401
        assert emails() == ["ada.king@example.com"]
        # Ada's old email is free again: whoever the provider gives it to next is someone new.
        assert _sign_in(client, provider, sub="newcomer", email="ada@example.com").status_code == 303
        assert me()["id"] != ada and emails() == ["ada.king@example.com", "ada@example.com"]
        # Ada still signs in as Ada.
        assert _sign_in(client, provider, sub="ada-1", email="ada.king@example.com").status_code == 303
        assert me()["id"] == ada

        # A user who signed in with a password before SSO is linked by a verified email only...
        grace = client.post(
            "/api/v1/users", json={"email": "grace@example.com", "password": MEMBER_PASSWORD}, headers=admin
        ).json()["id"]
        unverified = _sign_in(client, provider, sub="grace-1", email="grace@example.com", email_verified=None)
        assert_error(unverified, 403, "sso_email_unverified")
        assert _sign_in(client, provider, sub="grace-1", email="grace@example.com").status_code == 303
        assert me()["id"] == grace
        # ...and once only: a second account at the provider with her email is refused.
        assert_error(
            _sign_in(client, provider, sub="grace-2", email="grace@example.com"), 409, "sso_account_conflict"
        )
        assert emails() == ["ada.king@example.com", "ada@example.com", "grace@example.com"]

        audit = client.get("/api/v1/admin/audit?page_size=100", headers=admin).json()["items"]
        refusals = [(e["details"] or {}).get("reason") for e in audit if e["action"] == "auth.login_failed"]
        assert sorted(refusals) == ["sso_account_conflict"] * 3 + ["sso_email_unverified"]
        assert sum(e["action"] == "user.identity_linked" for e in audit) == 3


def test_two_first_sign_ins_of_one_account_at_once_make_one_user(
    database_url: str, tmp_path: Path, embedder: Any, provider: OpenIdProvider
) -> None:
    """A double click on "Sign in with SSO": the second sign-in runs while the first has linked the account
    but not committed (on PostgreSQL its insert waits for the first, then meets its unique key; SQLite
    makes it wait for the first's write lock). Both end as the one user: the first time, when even the
    organisation is new, and again for another account once it exists."""
    settings = make_settings(
        database_url, tmp_path, oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, embedded_worker=False,
    )  # fmt: skip
    with build_container(settings, embedder=embedder, hasher=TEST_HASHER) as container:
        for name in ("twin", "other-twin"):
            identity = Identity(
                issuer=provider.issuer, subject=name, email=f"{name}@example.com", email_verified=True,
                name=None, claims={},
            )  # fmt: skip
            user_ids = _sign_in_twice_at_once(container, identity)
            assert len(user_ids) == 2 and len(set(user_ids)) == 1
            with container.database.unit_of_work(write=False) as uow:
                assert [u.id for u in uow.users.by_email(identity.email)] == user_ids[:1]
                link = uow.identities.find(provider.issuer, name)
                assert link is not None and link.user_id == user_ids[0]


def _sign_in_twice_at_once(container: Container, identity: Identity) -> list[uuid.UUID]:
    sso = container.sso
    assert sso is not None
    linked = threading.Event()
    user_ids: list[uuid.UUID] = []

    def sign_in(first: bool) -> None:
        with container.database.unit_of_work() as uow:
            pair = sso.sign_in(uow, identity, RequestContext(request_id="first" if first else "second"))
            if first:
                linked.set()
                time.sleep(1.0)  # gives the second sign-in time to reach its insert
            uow.commit()
        with container.database.unit_of_work(write=False) as uow:
            user_ids.append(container.auth.authenticate(uow, pair.access_token).user_id)

    earlier = threading.Thread(target=sign_in, args=(True,))
    earlier.start()
    assert linked.wait(60)
    sign_in(False)
    earlier.join()
    return user_ids
