"""`POST /documents/url`: a page served on this machine is fetched and ingested when the operator allows
private addresses, and refused (400, nothing stored) when not."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, assert_error, make_settings, start_client
from tests.http_servers import serving, url_of
from tests.samples import make_pdf

PAGE = (
    b"<html><head><title>Onboarding guide</title></head><body><nav>Home | Jobs | Contact</nav>"
    b"<main><h1>First week</h1><p>New staff collect their badge from reception on Monday morning "
    b"and meet their mentor before lunch.</p></main><footer>Copyright</footer></body></html>"
)
PDF = make_pdf(["Quarterly report. Revenue grew by eight percent."])


class _Handler(BaseHTTPRequestHandler):
    routes = {"/guide.html": ("text/html; charset=utf-8", PAGE), "/report": ("application/pdf", PDF)}

    def do_GET(self) -> None:
        kind, body = self.routes.get(self.path, ("", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", kind or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Handler)) as server:
        yield url_of(server)


def test_pages_and_pdfs_are_fetched_and_ingested(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    settings = make_settings(database_url, tmp_path, url_allow_private_addresses=True)
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        response = client.post(
            "/api/v1/documents/url", json={"url": f"{site}/guide.html", "tags": ["HR"]}, headers=admin
        )
        assert response.status_code == 202, response.text
        (page,) = response.json()["documents"]
        assert page["source_url"] == f"{site}/guide.html" and page["tags"] == ["hr"]
        done = api.wait_for(admin, page["id"])
        assert done["status"] == "completed" and done["title"] == "Onboarding guide"
        chunks = client.get(f"/api/v1/documents/{page['id']}/chunks", headers=admin).json()["items"]
        text = " ".join(c["text"] for c in chunks)
        assert "badge from reception" in text and "Home | Jobs" not in text

        pdf = client.post("/api/v1/documents/url", json={"url": f"{site}/report"}, headers=admin)
        assert pdf.status_code == 202, pdf.text
        assert api.wait_for(admin, pdf.json()["documents"][0]["id"])["content_type"] == "application/pdf"

        assert_error(
            client.post("/api/v1/documents/url", json={"url": f"{site}/missing"}, headers=admin), 502
        )
        # Any string matches the document; one that is no http(s) address is refused, not malformed.
        for not_fetchable in ("ftp://example.com/x", "0"):
            assert_error(
                client.post("/api/v1/documents/url", json={"url": not_fetchable}, headers=admin),
                400,
                "invalid_url",
            )


def test_private_addresses_are_refused_by_default(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    with start_client(make_settings(database_url, tmp_path), embedder) as client:
        admin = Api(client).headers()
        for url in (f"{site}/guide.html", "http://169.254.169.254/latest/meta-data/", "http://[::1]/"):
            response = client.post("/api/v1/documents/url", json={"url": url}, headers=admin)
            assert_error(response, 400, "url_forbidden")
        assert_error(client.post("/api/v1/documents/url", json={"url": ""}, headers=admin), 422)
        assert client.get("/api/v1/documents", headers=admin).json()["total"] == 0
