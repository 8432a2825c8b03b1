"""The pages and assets of the web app, their security headers, /docs offline, and admin feedback."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MEMBER_PASSWORD, Api, assert_error

NOTES = b"# Guide\n\nThe travel guide says that expense reports are due within 30 days of the trip.\n"
PAGES = ["/", "/chat", "/login", "/documents", "/documents/abc", "/account", "/admin", "/admin/feedback"]
_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _assets(html: str) -> list[str]:
    return re.findall(r"""<(?:script|link)[^>]+(?:src|href)\s*=\s*["'](/static/[^"']+)["']""", html)


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_a_strict_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
    assert (
        "<script>" not in response.text
        and " style=" not in response.text
        and " on" not in response.text.lower()
    )
    assert all(not u.startswith(("http:", "https:", "//")) for u in _URL.findall(response.text))


def test_assets_are_content_hashed_and_cached_for_a_year(client: TestClient) -> None:
    html = client.get("/").text
    assets = _assets(html)
    assert {a.rsplit(".", 1)[-1] for a in assets} == {"svg", "css", "js"}
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200
        assert re.search(r"\.[0-9a-f]{10}\.\w+$", url), url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        etag = response.headers["etag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_module_imports_point_at_hashed_names(client: TestClient) -> None:
    app_js = client.get(_assets(client.get("/").text)[-1]).text
    imports = re.findall(r"""from\s+["'](\./[^"']+)["']|import\(\s*["'](\./[^"']+)["']""", app_js)
    names = [a or b for a, b in imports]
    assert names and all(re.fullmatch(r"\./[\w-]+\.[0-9a-f]{10}\.js", n) for n in names), names
    for name in names:
        assert client.get("/static/" + name[2:]).status_code == 200


def test_plain_asset_names_revalidate_and_gzip_is_offered(client: TestClient) -> None:
    response = client.get("/static/app.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"].startswith("text/javascript")
    assert_missing = client.get("/static/nope.js")
    assert assert_missing.status_code == 404


def test_docs_and_redoc_load_nothing_from_another_host(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert "content-security-policy" in response.headers
        urls = _URL.findall(response.text)
        assert urls and all(u.startswith("/static/") for u in urls), urls
        assert "<script>" not in response.text
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, url
    swagger = client.get(next(u for u in _URL.findall(client.get("/docs").text) if "swagger-ui-bundle" in u))
    assert "SwaggerUIBundle" in swagger.text
    assert client.get("/openapi.json").status_code == 200


def test_json_responses_carry_the_headers_too(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_admin_pages_are_403_for_a_signed_in_member(client: TestClient, api: Api) -> None:
    api.create_user(api.headers(), "member@example.com")
    signed_in = client.post(
        "/api/v1/auth/session",
        json={"email": "member@example.com", "password": MEMBER_PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert signed_in.status_code == 200
    for path in ("/admin", "/admin/users", "/admin/feedback"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "content-security-policy" in response.headers
    assert client.get("/documents").status_code == 200
    assert client.get("/admin/nonsense").status_code == 404


def test_the_original_pdf_opens_in_place_other_files_download(
    client: TestClient, api: Api, admin: dict[str, str]
) -> None:
    (doc,) = api.upload(admin, [("files", ("notes.md", NOTES, "text/markdown"))])
    response = client.get(f"/api/v1/documents/{doc['id']}/file?inline=true", headers=admin)
    assert response.headers["content-disposition"].startswith("attachment"), "markdown never opens in place"


def _rated_answer(client: TestClient, api: Api, headers: dict[str, str], rating: str, comment: str) -> str:
    (doc,) = api.upload(headers, [("files", ("notes.md", NOTES, "text/markdown"))])
    api.wait_for(headers, doc["id"])
    answer = client.post(
        "/api/v1/chat", json={"question": "When are expense reports due?"}, headers=headers
    ).json()
    rated = client.post(
        f"/api/v1/chat/messages/{answer['message_id']}/feedback",
        json={"rating": rating, "comment": comment},
        headers=headers,
    )
    assert rated.status_code == 200, rated.text
    return str(answer["message_id"])


def test_admins_read_the_answers_rated_down(client: TestClient, api: Api, admin: dict[str, str]) -> None:
    message_id = _rated_answer(client, api, admin, "down", "too vague")
    listed = client.get("/api/v1/admin/feedback?rating=down", headers=admin)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 1 and body["page"] == 1
    (item,) = body["items"]
    assert item["message_id"] == message_id
    assert item["comment"] == "too vague" and item["rating"] == "down"
    assert item["question"] == "When are expense reports due?"
    assert item["answer"] and isinstance(item["citations"], list)
    assert item["rated_by"] == "admin@example.com"
    assert client.get("/api/v1/admin/feedback?rating=up", headers=admin).json()["total"] == 0
    assert client.get("/api/v1/admin/feedback", headers=admin).json()["total"] == 1
    assert_error(client.get("/api/v1/admin/feedback?rating=sideways", headers=admin), 422)


def test_members_may_not_read_feedback(client: TestClient, member: dict[str, str]) -> None:
    assert_error(client.get("/api/v1/admin/feedback", headers=member), 403, "forbidden")
