"""What a person notices without doing anything: accessibility (axe-core), no console errors, nothing from
another host, the chat page's first-load weight; screenshots of each main page at 1440 and 360 px."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN, SCREENSHOTS, Server, Watch, screenshot, sign_in

FIRST_LOAD_BUDGET = 300_000  # bytes over the wire, the chat page with everything it fetches
PAGES = [
    ("/", "chat-empty"),
    ("/documents", "documents-list"),
    ("/admin/users", "admin-users"),
    ("/admin/groups", "admin-groups"),
    ("/admin/usage", "admin-usage"),
    ("/admin/audit", "admin-audit"),
    ("/admin/feedback", "admin-feedback-page"),
    ("/admin/index", "admin-index"),
    ("/account", "account"),
]


def _serious(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def with_a_document(server: Server) -> str:
    token = server.token(*ADMIN)
    return server.upload(token, "garden.md", b"# Garden\n\nThe garden gate closes at six.\n", "text/markdown")


def test_axe_finds_no_serious_violation(page: Page, server: Server, with_a_document: str) -> None:
    page.goto(server.base + "/login")
    page.get_by_role("button", name="Sign in").wait_for()
    found = {"login": _serious(page)}
    sign_in(page, server.base, *ADMIN)
    page.get_by_label("Question").fill("When does the garden gate close?")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator(".msg.assistant").last.get_by_role("button", name="Good answer")).to_be_visible()
    found["chat"] = _serious(page)
    paths = ["/documents", f"/documents/{with_a_document}", "/admin/users", "/admin/usage", "/admin/feedback"]
    for path in [*paths, "/account"]:
        page.goto(server.base + path)
        page.wait_for_load_state("networkidle")
        found[path] = _serious(page)
    assert not any(found.values()), json.dumps(found, indent=1)


def test_pages_log_no_error_and_fetch_nothing_from_elsewhere(
    page: Page, server: Server, watch: Watch, with_a_document: str
) -> None:
    page.goto(server.base + "/login")
    page.get_by_role("button", name="Sign in").wait_for()
    sign_in(page, server.base, *ADMIN)
    for path, name in [*PAGES, (f"/documents/{with_a_document}", "document")]:
        page.goto(server.base + path)
        page.wait_for_load_state("networkidle")
        expect(page.locator("main")).not_to_be_empty()
        screenshot(page, name)
    for path in ("/docs", "/redoc"):
        page.goto(server.base + path)
        page.wait_for_load_state("networkidle")
        expect(page.get_by_role("heading", name=re.compile("Docent")).first).to_be_visible(timeout=20_000)
        screenshot(page, path.strip("/"))
    assert watch.errors == []
    assert watch.foreign == []
    assert watch.dialogs == []


def test_the_chat_page_first_load_is_light(browser: Browser, server: Server) -> None:
    signed_in = browser.new_context()
    page = signed_in.new_page()
    sign_in(page, server.base, *ADMIN)
    state = signed_in.storage_state()
    signed_in.close()
    cold = browser.new_context(storage_state=state)  # cookies, but an empty cache
    page = cold.new_page()
    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(server.base + "/")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("heading", name="Conversations")).to_be_visible()
    sizes = [(r.url.replace(server.base, ""), r.sizes()) for r in finished]
    transferred = sum(s["responseBodySize"] + s["responseHeadersSize"] for _, s in sizes)
    cold.close()
    SCREENSHOTS.mkdir(exist_ok=True)
    report = "\n".join(f"{s['responseBodySize'] + s['responseHeadersSize']:>8}  {url}" for url, s in sizes)
    (SCREENSHOTS / "first-load.txt").write_text(f"{report}\n{transferred:>8}  total bytes transferred\n")
    print(f"chat page first load: {transferred} bytes in {len(sizes)} responses")
    assert transferred <= FIRST_LOAD_BUDGET, report
