"""The MCP server, driven by the official SDK's own client: over streamable HTTP against a real uvicorn
serving the app, and over stdio against a `docent mcp` process. Every call runs with the caller's
permissions: a member never meets another user's private document, through any tool or transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from docent.api.app import create_app
from docent.config import Settings
from docent.container import build_container
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD, SECRET_KEY, make_settings
from tests.http_servers import uvicorn_serving

T = TypeVar("T")

EXPENSES = b"Expense reports are due within 30 days of the purchase, with every receipt attached."
PASSWORDS = b"Passwords must be rotated every 90 days and may not repeat the last five."
JUNIPER = b"Project Juniper ships in March to the Oslo office, under the codename Bluefin."


@dataclass
class Site:
    base: str
    admin: str  # an access token
    member: str  # an access token
    member_key: str  # an API key of the member
    member_key_id: str
    private_id: str  # the admin's private document

    @property
    def mcp(self) -> str:
        return self.base + "/mcp"


def _login(http: httpx.Client, email: str, password: str) -> str:
    response = http.post("/api/v1/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(http: httpx.Client, token: str, name: str, content: bytes, visibility: str) -> str:
    response = http.post(
        "/api/v1/documents",
        files=[("files", (name, content, "text/plain"))],
        data={"visibility": visibility},
        headers=_bearer(token),
    )
    assert response.status_code == 202, response.text
    document_id: str = response.json()["documents"][0]["id"]
    deadline = time.monotonic() + 600  # only stops a hang (a busy machine parses slowly)
    while time.monotonic() < deadline:
        status = http.get(f"/api/v1/documents/{document_id}", headers=_bearer(token)).json()["status"]
        if status in ("completed", "failed"):
            assert status == "completed"
            return document_id
        time.sleep(0.1)
    raise AssertionError(f"{name} was not ingested")


@pytest.fixture
def site(settings: Settings, embedder: Any) -> Iterator[Site]:
    app = create_app(settings, build_container(settings, embedder=embedder))
    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        admin = _login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
        created = http.post(
            "/api/v1/users",
            json={"email": "member@example.com", "password": MEMBER_PASSWORD, "role": "member"},
            headers=_bearer(admin),
        )
        assert created.status_code == 201, created.text
        member = _login(http, "member@example.com", MEMBER_PASSWORD)
        key = http.post("/api/v1/api-keys", json={"name": "desktop"}, headers=_bearer(member))
        assert key.status_code == 201, key.text
        _upload(http, admin, "expenses.txt", EXPENSES, "org")
        _upload(http, admin, "passwords.txt", PASSWORDS, "org")
        private_id = _upload(http, admin, "juniper.txt", JUNIPER, "private")
        yield Site(base, admin, member, key.json()["key"], key.json()["id"], private_id)


def _over_http(url: str, credential: str, session: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with (
            httpx2.AsyncClient(headers=_bearer(credential), timeout=120) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            return await session(client)

    return anyio.run(main)


def _json(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result
    assert result.structured_content is not None
    return result.structured_content


def _text(result: CallToolResult) -> str:
    return json.dumps(result.model_dump(mode="json"))


def test_mcp_over_http_runs_as_the_caller_and_refuses_bad_credentials(site: Site) -> None:
    async def as_admin(client: Client) -> None:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"search", "ask", "list_documents"} <= names
        found = _json(
            await client.call_tool("search", {"query": "When are expense reports due?", "top_k": 3})
        )
        assert found["mode"] == "hybrid"
        assert "30 days" in found["results"][0]["text"]
        keyword = _json(await client.call_tool("search", {"query": "Juniper", "mode": "keyword", "top_k": 5}))
        assert [r["document_id"] for r in keyword["results"]] == [site.private_id]  # the owner finds it
        answer = _json(await client.call_tool("ask", {"question": "How often must passwords be rotated?"}))
        assert "90" in answer["answer"] and "[1]" in answer["answer"]
        assert answer["citations"][0]["title"] == "passwords.txt"
        listed = _json(await client.call_tool("list_documents", {}))
        assert listed["total"] == 3

    _over_http(site.mcp, site.admin, as_admin)

    async def as_member(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("search", {"query": "Project Juniper Oslo codename", "top_k": 10}),
            await client.call_tool(
                "search", {"query": "Juniper Bluefin", "mode": "keyword", "filters": {"tags": []}}
            ),
            await client.call_tool(
                "search", {"query": "Oslo", "filters": {"document_ids": [site.private_id]}}
            ),
            await client.call_tool("ask", {"question": "When does Project Juniper ship, and where to?"}),
            await client.call_tool("list_documents", {"page_size": 100}),
            await client.call_tool("list_documents", {"title_contains": "juniper"}),
        ]

    for credential in (site.member, site.member_key):  # an access token, then an API key
        results = _over_http(site.mcp, credential, as_member)
        for result in results:
            assert not result.is_error, result
            shown = _text(result).lower()
            assert "bluefin" not in shown and "oslo office" not in shown and site.private_id not in shown
        assert results[2].structured_content == {"results": [], "mode": "hybrid"}
        assert results[4].structured_content is not None and results[4].structured_content["total"] == 2
    _tool_arguments_are_bounded(site)
    _refuses_a_missing_bad_or_revoked_credential(site)  # last: it revokes the member's key


def _access_records(site: Site, **query: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=site.base, timeout=60) as http:
        response = http.get(
            "/api/v1/admin/access", params={"page_size": "500", **query}, headers=_bearer(site.admin)
        )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _user_id(site: Site, token: str) -> str:
    with httpx.Client(base_url=site.base, timeout=60) as http:
        me = http.get("/api/v1/auth/me", headers=_bearer(token))
    assert me.status_code == 200, me.text
    user_id: str = me.json()["id"]
    return user_id


def test_mcp_tool_calls_are_recorded_in_the_access_log_as_mcp_routes(site: Site) -> None:
    async def as_member(client: Client) -> list[dict[str, Any]]:
        return [
            _json(await client.call_tool("search", {"query": "When are expense reports due?", "top_k": 2})),
            _json(await client.call_tool("ask", {"question": "How often must passwords be rotated?"})),
            _json(await client.call_tool("list_documents", {})),
        ]

    member_id = _user_id(site, site.member)
    assert _access_records(site, user_id=member_id) == []
    found, answer, _listed = _over_http(site.mcp, site.member, as_member)
    records = _access_records(site, user_id=member_id)
    assert {r["route"] for r in records} == {"mcp:search", "mcp:ask"}  # a listing shows no chunk
    searched = {(r["document_id"], r["chunk_id"]) for r in records if r["route"] == "mcp:search"}
    assert searched == {(r["document_id"], r["chunk_id"]) for r in found["results"]}
    asked = {(r["document_id"], r["chunk_id"]) for r in records if r["route"] == "mcp:ask"}
    assert {(c["document_id"], c["chunk_id"]) for c in answer["citations"]} <= asked
    assert all(r["email"] == "member@example.com" and r["api_key_id"] is None for r in records)
    # "Who was shown the expenses document?" names the member, through MCP.
    expenses = found["results"][0]["document_id"]
    shown_expenses = _access_records(site, document_id=expenses)
    assert ("member@example.com", "mcp:search") in {(r["email"], r["route"]) for r in shown_expenses}
    assert site.private_id not in {r["document_id"] for r in records}


def _refuses_a_missing_bad_or_revoked_credential(site: Site) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=site.base, timeout=30) as http:
        for extra in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
            refused = http.post("/mcp", json=initialize, headers=headers | extra)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"]["code"] in ("not_authenticated", "invalid_token")
            assert refused.headers["www-authenticate"].startswith("Bearer")
        accepted = http.post("/mcp", json=initialize, headers=headers | _bearer(site.member_key))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["result"]["serverInfo"]["name"] == "docent"
        revoked = http.delete(f"/api/v1/api-keys/{site.member_key_id}", headers=_bearer(site.member))
        assert revoked.status_code == 204
        again = http.post("/mcp", json=initialize, headers=headers | _bearer(site.member_key))
        assert again.status_code == 401 and again.json()["error"]["code"] == "token_revoked"


def _tool_arguments_are_bounded(site: Site) -> None:
    async def session(client: Client) -> list[CallToolResult]:
        return [
            await client.call_tool("search", {"query": "expenses", "top_k": 0}),
            await client.call_tool("search", {"query": "x" * 5000}),
            await client.call_tool("search", {"query": "   "}),
            await client.call_tool("search", {"query": "expenses", "mode": "telepathy"}),
            await client.call_tool("search", {"query": "expenses", "filters": {"colour": "red"}}),
            await client.call_tool("ask", {"question": "y" * 10_000}),
            await client.call_tool("list_documents", {"page_size": 10_000}),
            await client.call_tool(
                "ask", {"question": "Who?", "session_id": "00000000-0000-0000-0000-000000000000"}
            ),
        ]

    results = _over_http(site.mcp, site.member, session)
    for result in results:
        assert result.is_error, result
        assert "Traceback" not in _text(result)
    assert "not_found" in _text(results[-1])  # a Docent error keeps its stable code


def test_docent_mcp_over_stdio_runs_as_the_api_keys_user_and_needs_one(
    site: Site, settings: Settings, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        DOCENT_DATABASE_URL=settings.database_url,
        DOCENT_DATA_DIR=str(tmp_path),
        DOCENT_SECRET_KEY=SECRET_KEY,
        DOCENT_REDIS_URL="",
        HF_HUB_OFFLINE="1",
    )

    def over_stdio(api_key: str, session: Callable[[Client], Awaitable[T]]) -> T:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "docent", "mcp"],
            env=env | {"DOCENT_MCP_API_KEY": api_key},
            cwd=str(tmp_path),
        )

        async def main() -> T:
            async with Client(params) as client:
                return await session(client)

        return anyio.run(main)

    async def member(client: Client) -> list[CallToolResult]:
        assert {"search", "ask", "list_documents"} <= {t.name for t in (await client.list_tools()).tools}
        return [
            await client.call_tool("search", {"query": "When are expense reports due?", "top_k": 3}),
            await client.call_tool("search", {"query": "Project Juniper Oslo codename", "top_k": 10}),
            await client.call_tool("list_documents", {}),
        ]

    expenses, juniper, listed = over_stdio(site.member_key, member)
    assert "30 days" in _json(expenses)["results"][0]["text"]
    assert "bluefin" not in _text(juniper).lower() and site.private_id not in _text(juniper)
    assert _json(listed)["total"] == 2
    # The process wrote what it showed before it ended: the server's admin endpoint finds it.
    records = _access_records(site, user_id=_user_id(site, site.member))
    shown = {(r["document_id"], r["chunk_id"]) for r in records}
    assert {(r["document_id"], r["chunk_id"]) for r in _json(expenses)["results"]} <= shown
    assert {r["route"] for r in records} == {"mcp:search"}
    assert {r["api_key_id"] for r in records} == {site.member_key_id}
    _refuses_to_start_without_a_valid_key(env, tmp_path)


def _refuses_to_start_without_a_valid_key(env: dict[str, str], cwd: Path) -> None:
    env = {k: v for k, v in env.items() if k != "DOCENT_MCP_API_KEY"}
    for key in (None, "not-a-key", "dk_" + "0" * 40):
        run_env = env if key is None else env | {"DOCENT_MCP_API_KEY": key}
        done = subprocess.run(
            [sys.executable, "-m", "docent", "mcp"],
            env=run_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,  # a busy machine starts a process slowly
            input="",
            check=False,
        )
        assert done.returncode == 2, done
        assert done.stdout == ""  # stdout belongs to the protocol
        assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_mcp_tool_calls_count_on_the_callers_rate_limits_with_the_rest_api(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    limits = {"rate_limit_search": "3/hour", "rate_limit_chat": "1/hour", "rate_limit_anonymous": "4/hour"}
    settings = make_settings(database_url, tmp_path, embedded_worker=False, **limits)
    app = create_app(settings, build_container(settings, embedder=embedder))
    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        admin = _login(http, ADMIN_EMAIL, ADMIN_PASSWORD)  # one anonymous request of four
        url = base + "/mcp"

        async def session(client: Client) -> list[CallToolResult]:
            return [
                await client.call_tool("search", {"query": "expenses"}),
                await client.call_tool("list_documents", {}),  # on the search limit too
                await client.call_tool("search", {"query": "expenses"}),
                await client.call_tool("search", {"query": "expenses"}),
                await client.call_tool("ask", {"question": "When are expenses due?"}),
                await client.call_tool("ask", {"question": "When are expenses due?"}),
            ]

        results = _over_http(url, admin, session)
        assert [r.is_error for r in results] == [False, False, False, True, False, True]
        for refused in (results[3], results[5]):
            message = _text(refused)
            assert "rate_limited" in message and "Try again in" in message and "Traceback" not in message
        # The REST API counts on the same counters: the caller's searches and answers are spent there too.
        for path, body in (("/api/v1/search", {"query": "x"}), ("/api/v1/chat", {"question": "x?"})):
            spent = http.post(path, json=body, headers=_bearer(admin))
            assert spent.status_code == 429 and spent.json()["error"]["code"] == "rate_limited"
        # Requests with no valid credential count on the address's ceiling, as on every route.
        statuses = [
            http.post("/mcp", json={}, headers={"Authorization": "Bearer nope"}).status_code for _ in range(4)
        ]
        assert statuses == [401, 401, 401, 429]
        refused_http = http.post("/mcp", json={}, headers={"Authorization": "Bearer nope"})
        assert refused_http.status_code == 429 and int(refused_http.headers["Retry-After"]) > 0
