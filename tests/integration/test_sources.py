"""Site crawls (`/api/v1/sources`) against a site these tests serve on 127.0.0.1: robots.txt, the host,
depth, page and pattern limits are kept, a re-run versions only what changed, runs show as batches in /jobs,
and every fetch passes the SSRF guard."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from docent.container import Container
from docent.types import Role
from tests.conftest import MEMBER_PASSWORD, Api, assert_error, make_settings, start_client
from tests.http_servers import serving, url_of

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def page(title: str, text: str, *links: str) -> bytes:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<html><head><title>{title}</title></head><body><main><h1>{title}</h1><p>{text}</p>"
        f"<ul>{anchors}</ul></main></body></html>"
    ).encode()


def site_pages() -> dict[str, bytes]:
    return {
        "/": page(
            "Handbook",
            "The staff handbook explains how the office works, from badges to holidays.",
            "/a", "/a#top", "/b", "/private/secret", "/missing", "/excluded/x", "/deep1",
            "http://elsewhere.invalid/page", "mailto:hr@example.com",
        ),
        "/a": page("Badges", "Badges are collected at reception on the first Monday.", "/a", "/", "a"),
        "/b": page("Holidays", "Each employee has twenty-five days of paid holiday a year.", "/"),
        "/private/secret": page("Secret", "Salaries of the board members.", "/"),
        "/excluded/x": page("Excluded", "This page is excluded by a pattern.", "/"),
        "/deep1": page("Level one", "The first level of the archive covers the year 2019.", "/deep2"),
        "/deep2": page("Level two", "The second level of the archive covers the year 2020.", "/deep3"),
        "/deep3": page("Level three", "The third level of the archive covers the year 2021.", "/"),
    }  # fmt: skip


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}
    requested: ClassVar[list[str]] = []
    redirects: ClassVar[dict[str, str]] = {}
    release: ClassVar[threading.Event] = threading.Event()
    robots_status: ClassVar[int] = 200

    def do_GET(self) -> None:
        self.requested.append(self.path)
        if self.path in self.redirects:
            self.send_response(302)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/slow":
            self.release.wait(30)  # longer than the fetch timeout; released when the server stops
        if self.path == "/robots.txt" and self.robots_status != 200:
            self.send_error(self.robots_status)
            return
        if self.path == "/empty":  # an HTML page of no bytes: fetched, but no document can be made of it
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/robots.txt":
            kind, body = "text/plain", ROBOTS
        else:
            kind, body = "text/html; charset=utf-8", self.pages.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    _Site.pages = site_pages()
    _Site.requested = []
    _Site.redirects = {}
    _Site.release = threading.Event()
    _Site.robots_status = 200
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Site), before_stop=_Site.release.set) as server:
        yield url_of(server)


def crawl_client(database_url: str, data_dir: Path, embedder: Any, **overrides: Any) -> TestClient:
    """An app that may fetch from this machine (the test site), without waiting between requests."""
    values: dict[str, Any] = {
        "url_allow_private_addresses": True,
        "source_fetch_delay_seconds": 0,
        "source_max_pages": 200,
        "url_fetch_max_mb": 1,
    }
    return start_client(make_settings(database_url, data_dir, **{**values, **overrides}), embedder)


@pytest.fixture
def crawling(database_url: str, tmp_path: Path, embedder: Any) -> Iterator[TestClient]:
    with crawl_client(database_url, tmp_path, embedder) as client:
        yield client


def wait_for_run(client: TestClient, headers: dict[str, str], source_id: str) -> dict[str, Any]:
    """The source once its last run and every job of its batch have finished (the bound stops a hang)."""
    deadline = time.monotonic() + 180
    while True:
        source: dict[str, Any] = client.get(f"/api/v1/sources/{source_id}", headers=headers).json()
        run = source["last_run"]
        if run["status"] in ("completed", "failed"):
            jobs = client.get("/api/v1/jobs", params={"batch": run["batch_id"]}, headers=headers).json()
            if all(j["status"] in ("completed", "failed") for j in jobs["items"]):
                return source
        assert time.monotonic() < deadline, source
        time.sleep(0.2)


def documents_by_url(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    items = client.get("/api/v1/documents", params={"page_size": 100}, headers=headers).json()["items"]
    return {d["source_url"]: d for d in items}


def test_a_crawl_keeps_its_limits_and_a_rerun_versions_only_what_changed(
    crawling: TestClient, site: str
) -> None:
    client, api = crawling, Api(crawling)
    admin = api.headers()
    api.create_user(admin, "writer@example.com")
    member = api.headers("writer@example.com")
    body = {"start_url": f"{site}/", "max_depth": 2, "exclude": ["/excluded/*"], "tags": ["Handbook"]}
    response = client.post("/api/v1/sources", json=body, headers=member)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["last_run"]["status"] == "queued" and created["include"] == []
    source = wait_for_run(client, member, created["id"])

    run = source["last_run"]
    assert run["status"] == "completed", run
    counts = {k: run[f"pages_{k}"] for k in ("fetched", "new", "changed", "unchanged", "failed", "skipped")}
    assert counts == {"fetched": 5, "new": 5, "changed": 0, "unchanged": 0, "failed": 1, "skipped": 1}, run
    assert [(e["url"], e["code"]) for e in run["errors"]] == [(f"{site}/missing", "fetch_failed")]
    # robots.txt was read; the disallowed page, the excluded one, the one past max_depth and the other
    # host were never asked for; the page linking to itself was fetched once.
    assert "/robots.txt" in _Site.requested
    assert not {"/private/secret", "/excluded/x", "/deep3"} & set(_Site.requested)
    assert _Site.requested.count("/a") == 1

    documents = documents_by_url(client, member)
    expected = {f"{site}{p}" for p in ("/", "/a", "/b", "/deep1", "/deep2")}
    assert set(documents) == expected
    assert all(d["tags"] == ["handbook"] and d["owner_id"] for d in documents.values())
    assert all(d["status"] == "completed" and d["version"] == 1 for d in documents.values())

    jobs = client.get("/api/v1/jobs", params={"batch": run["batch_id"]}, headers=member).json()
    assert sorted(j["kind"] for j in jobs["items"]) == ["crawl"] + ["ingest"] * 5

    # One page changes: a re-run adds exactly one version and leaves the other pages as they were.
    _Site.pages["/b"] = page("Holidays", "Each employee now has thirty days of paid holiday a year.", "/")
    rerun = client.post(f"/api/v1/sources/{created['id']}/runs", headers=member)
    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["last_run"]["id"] != run["id"]
    assert_error(
        client.post(f"/api/v1/sources/{created['id']}/runs", headers=member), 409, "source_run_active"
    )
    second = wait_for_run(client, member, created["id"])["last_run"]
    assert (second["pages_new"], second["pages_changed"], second["pages_unchanged"]) == (0, 1, 4)
    after = documents_by_url(client, member)
    assert {url: d["version"] for url, d in after.items()} == {
        url: 2 if url.endswith("/b") else 1 for url in expected
    }
    assert {url: d["id"] for url, d in after.items()} == {url: d["id"] for url, d in documents.items()}
    batch = client.get("/api/v1/jobs", params={"batch": second["batch_id"]}, headers=member).json()
    assert sorted(j["kind"] for j in batch["items"]) == ["crawl", "ingest"]

    # A page that is gone (404) is soft-deleted; the listing shows the counts of the last run.
    del _Site.pages["/deep2"]
    client.post(f"/api/v1/sources/{created['id']}/run", headers=member)  # the name DESIGN.md gives
    third = wait_for_run(client, member, created["id"])["last_run"]
    assert (third["pages_removed"], third["pages_unchanged"], third["pages_failed"]) == (1, 4, 1)
    assert set(documents_by_url(client, member)) == expected - {f"{site}/deep2"}
    listing = client.get("/api/v1/sources", headers=member).json()
    assert listing["total"] == 1 and listing["items"][0]["last_run"]["id"] == third["id"]


def test_include_patterns_and_off_host_redirects(crawling: TestClient, site: str) -> None:
    client = crawling
    admin = Api(client).headers()
    _Site.redirects["/b"] = site.replace("127.0.0.1", "localhost") + "/a"  # another host name: another site
    body = {"start_url": f"{site}/", "max_depth": 3, "include": ["/a", "/b"]}
    created = client.post("/api/v1/sources", json=body, headers=admin).json()
    run = wait_for_run(client, admin, created["id"])["last_run"]
    assert (run["pages_fetched"], run["pages_new"], run["pages_failed"]) == (2, 2, 1)
    assert run["errors"][0]["url"] == f"{site}/b" and run["errors"][0]["code"] == "url_forbidden", run
    assert _Site.requested == ["/robots.txt", "/", "/a", "/b", "/a"]  # /b's target answers but is not kept


def test_sources_belong_to_their_creator_and_organisation(crawling: TestClient, site: str) -> None:
    client, api = crawling, Api(crawling)
    admin = api.headers()
    api.create_user(admin, "owner@example.com")
    api.create_user(admin, "nosy@example.com")
    owner, nosy = api.headers("owner@example.com"), api.headers("nosy@example.com")
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    with container.database.unit_of_work() as uow:
        container.users.create_in_org(uow, "globex", "boss@globex.example", MEMBER_PASSWORD, Role.ADMIN)
        uow.commit()
    stranger = api.headers("boss@globex.example")

    created = client.post("/api/v1/sources", json={"start_url": f"{site}/b", "max_depth": 0}, headers=owner)
    source_id = created.json()["id"]
    wait_for_run(client, owner, source_id)
    for other in (nosy, stranger):
        assert client.get("/api/v1/sources", headers=other).json()["total"] == 0
        assert_error(client.get(f"/api/v1/sources/{source_id}", headers=other), 404, "source_not_found")
        assert_error(client.post(f"/api/v1/sources/{source_id}/runs", headers=other), 404, "source_not_found")
        assert_error(client.delete(f"/api/v1/sources/{source_id}", headers=other), 404, "source_not_found")
    assert client.get("/api/v1/sources", headers=admin).json()["total"] == 1
    assert client.get(f"/api/v1/sources/{source_id}", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/sources/{source_id}", headers=owner).status_code == 204
    assert_error(client.get(f"/api/v1/sources/{source_id}", headers=owner), 404, "source_not_found")
    assert len(documents_by_url(client, owner)) == 1  # its documents stay

    # API keys: `read` lists sources but may not create or run one; `write` may.
    def key(scopes: list[str]) -> dict[str, str]:
        made = client.post("/api/v1/api-keys", json={"name": "crawl", "scopes": scopes}, headers=owner)
        return {"Authorization": f"Bearer {made.json()['key']}"}

    reader, writer = key(["read"]), key(["write"])
    body = {"start_url": f"{site}/a", "max_depth": 0}
    assert_error(client.post("/api/v1/sources", json=body, headers=reader), 403, "insufficient_scope")
    assert client.get("/api/v1/sources", headers=reader).json()["total"] == 0
    assert client.post("/api/v1/sources", json=body, headers=writer).status_code == 202


def test_requests_beyond_the_limits_are_refused_and_nothing_is_stored(
    crawling: TestClient, site: str
) -> None:
    client = crawling
    admin = Api(client).headers()
    refused = [
        ({"start_url": "ftp://example.com/"}, "invalid_url"),
        ({"start_url": "not a url"}, "invalid_url"),
        ({"start_url": "http://169.254.169.254/latest/meta-data/"}, "url_forbidden"),  # private or not
        ({"start_url": "http://metadata.google.internal/"}, "url_forbidden"),
        ({"start_url": f"{site}/", "max_pages": 201}, "bad_request"),
        ({"start_url": f"{site}/", "include": ["/p"] * 11, "exclude": ["/x"] * 10}, "bad_request"),
        ({"start_url": f"{site}/", "visibility": "group"}, "bad_request"),
    ]  # fmt: skip
    for body, code in refused:
        assert_error(client.post("/api/v1/sources", json=body, headers=admin), 400, code)
    assert_error(
        client.post("/api/v1/sources", json={"start_url": f"{site}/", "max_pages": 0}, headers=admin), 422
    )
    assert_error(
        client.post("/api/v1/sources", json={"start_url": site, "include": ["x" * 201]}, headers=admin), 422
    )
    unknown = {"start_url": "http://no-such-host.invalid/"}  # a name that never resolves
    assert_error(client.post("/api/v1/sources", json=unknown, headers=admin), 502, "fetch_failed")
    assert client.get("/api/v1/sources", headers=admin).json()["total"] == 0
    assert _Site.requested == []


def test_private_addresses_are_refused_by_default(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    with start_client(make_settings(database_url, tmp_path), embedder) as client:
        admin = Api(client).headers()
        for url in (f"{site}/", "http://[::1]/", "http://10.0.0.1/"):
            assert_error(
                client.post("/api/v1/sources", json={"start_url": url}, headers=admin), 400, "url_forbidden"
            )
        assert client.get("/api/v1/sources", headers=admin).json()["total"] == 0
    assert _Site.requested == []


def test_redirects_to_metadata_addresses_are_refused_mid_crawl(crawling: TestClient, site: str) -> None:
    client = crawling
    admin = Api(client).headers()
    _Site.redirects["/b"] = "http://169.254.169.254/latest/meta-data/"
    _Site.redirects["/start"] = "http://169.254.169.254/latest/meta-data/"
    body = {"start_url": f"{site}/", "max_depth": 1, "include": ["/a", "/b"]}
    source = client.post("/api/v1/sources", json=body, headers=admin).json()
    run = wait_for_run(client, admin, source["id"])["last_run"]
    assert (run["pages_fetched"], run["pages_failed"]) == (2, 1)
    assert [(e["url"], e["code"]) for e in run["errors"]] == [(f"{site}/b", "url_forbidden")]

    # A start URL that redirects there: the run fails, with why, and stores nothing.
    start = client.post("/api/v1/sources", json={"start_url": f"{site}/start"}, headers=admin).json()
    failed = wait_for_run(client, admin, start["id"])["last_run"]
    assert failed["status"] == "failed" and "no page could be read" in failed["error"]
    assert failed["errors"][0]["code"] == "url_forbidden"
    jobs = client.get("/api/v1/jobs", params={"batch": failed["batch_id"]}, headers=admin).json()["items"]
    assert [(j["kind"], j["status"]) for j in jobs] == [("crawl", "failed")]


def test_hostile_sites_stay_within_bounds(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    _Site.pages["/"] = page("Hub", "A hub of many links, one too large, one too slow, one empty.", "/huge",
                            "/slow", "/empty", *(f"/many/{i}" for i in range(3000)))  # fmt: skip
    _Site.pages["/huge"] = page("Huge", "word " * 300_000)  # 1.5 MB, over the 1 MB fetch limit
    for i in range(3000):
        _Site.pages[f"/many/{i}"] = page(f"Page {i}", f"Page number {i} links to the hub.", "/", f"/many/{i}")
    with crawl_client(database_url, tmp_path, embedder, url_fetch_timeout_seconds=2) as client:
        admin = Api(client).headers()
        body = {"start_url": f"{site}/", "max_depth": 5, "max_pages": 12}
        source = client.post("/api/v1/sources", json=body, headers=admin).json()
        run = wait_for_run(client, admin, source["id"])["last_run"]
    assert run["pages_fetched"] + run["pages_failed"] == 12, run
    codes = {e["url"].removeprefix(site): e["code"] for e in run["errors"]}
    assert codes["/huge"] == "document_too_large" and codes["/slow"] == "fetch_timeout", codes
    assert codes["/empty"] == "empty_file" and run["status"] == "completed"
    assert len([p for p in _Site.requested if p != "/robots.txt"]) == 12


def test_a_run_stops_at_its_time_limit_and_an_unreadable_robots_txt_allows_nothing(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    _Site.pages["/"] = page("Hub", "A hub whose second link answers slowly.", "/slow", "/a", "/b")
    limits = {"url_fetch_timeout_seconds": 2, "source_max_run_seconds": 1}
    with crawl_client(database_url, tmp_path, embedder, **limits) as client:
        admin = Api(client).headers()
        source = client.post("/api/v1/sources", json={"start_url": f"{site}/"}, headers=admin).json()
        run = wait_for_run(client, admin, source["id"])["last_run"]
        assert run["status"] == "completed" and run["pages_fetched"] == 1, run
        # The run's own time limit ends it before the links after the slow one (whether the slow page was
        # tried first depends on how long the first page took to store).
        errors = [(e["url"], e["code"]) for e in run["errors"]]
        assert errors[-1] == (None, "fetch_timeout") and set(errors[:-1]) <= {
            (f"{site}/slow", "fetch_timeout")
        }
        assert "/a" not in _Site.requested and "/b" not in _Site.requested

        _Site.robots_status = 503  # RFC 9309: a robots.txt that cannot be read allows nothing
        _Site.requested.clear()
        source = client.post("/api/v1/sources", json={"start_url": f"{site}/a"}, headers=admin).json()
        run = wait_for_run(client, admin, source["id"])["last_run"]
        assert run["status"] == "failed" and run["pages_skipped"] == 1, run
        assert _Site.requested == ["/robots.txt"]


def test_a_run_cut_off_by_a_stopping_worker_finishes_after_a_restart(
    site: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    """The jobs table is the truth: a crawl interrupted when the server stops is queued again and completes
    in the next process; the pages it had stored come out unchanged, none twice."""
    body = {"start_url": f"{site}/", "max_depth": 1, "include": ["/a", "/b", "/deep1"]}
    slow = {"source_fetch_delay_seconds": 1, "job_lease_seconds": 2}
    with crawl_client(database_url, tmp_path, embedder, **slow) as client:
        admin = Api(client).headers()
        source = client.post("/api/v1/sources", json=body, headers=admin).json()
        deadline = time.monotonic() + 60
        while (
            client.get(f"/api/v1/sources/{source['id']}", headers=admin).json()["last_run"]["status"]
            != "running"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with crawl_client(database_url, tmp_path, embedder, job_lease_seconds=2) as client:
        admin = Api(client).headers()
        run = wait_for_run(client, admin, source["id"])["last_run"]
        assert run["status"] == "completed", run
        assert run["pages_fetched"] == 4 and run["pages_new"] + run["pages_unchanged"] == 4, run
        crawl = client.get(f"/api/v1/jobs/{run['job_id']}", headers=admin).json()
        assert crawl["status"] == "completed" and crawl["attempts"] == 2, crawl
        assert len(documents_by_url(client, admin)) == 4
