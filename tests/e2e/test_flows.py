"""What people do in the browser: upload, ask, follow a citation, rate, sign out; what members must not
see; injected markup that must stay text; a refused file among accepted ones; Stop; an expired session."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import (
    ADMIN,
    AGENT_QUERY,
    INJECT,
    MEMBER_PASSWORD,
    SLOW,
    ScriptedModel,
    Server,
    Watch,
    screenshot,
    sign_in,
)
from tests.samples import make_docx, make_pdf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
INDEXING = 180_000  # ms: the first upload also loads the embedding model


def _file(name: str, content: bytes, kind: str) -> dict[str, object]:
    return {"name": name, "mimeType": kind, "buffer": content}


def _ask(page: Page, question: str) -> None:
    """Ask (each test asks once on a fresh page, so the answer is `.msg.assistant` last)."""
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()


def test_upload_ask_cite_rate_and_sign_out(page: Page, server: Server, watch: Watch) -> None:
    sign_in(page, server.base, *ADMIN)
    page.goto(server.base + "/documents")
    pdf = make_pdf(
        ["Welcome to Acme. Your laptop is issued on day one.",
         "The VPN client is called Tunnelbear Enterprise and requires hardware tokens."]
    )  # fmt: skip
    leave = make_docx(
        [("h1", "Parental leave"), ("", "Parents receive sixteen weeks of paid parental leave.")]
    )
    expenses = b"# Expenses\n\nExpense reports must be submitted within 30 days of the trip.\n"
    page.get_by_label("Upload documents").set_input_files(
        [
            _file("onboarding.pdf", pdf, "application/pdf"),
            _file("leave.docx", leave, DOCX),
            _file("expenses.md", expenses, "text/markdown"),
        ]
    )
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_text("accepted", exact=True)).to_have_count(3)
    for title in ("onboarding.pdf", "Parental leave", "Expenses"):
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))
        expect(row).to_contain_text("indexed", timeout=INDEXING)
    screenshot(page, "documents")

    page.get_by_role("link", name="Chat").click()
    _ask(page, "What is the VPN client called?")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    body = page.locator(".msg.assistant .answer-body").last
    seen = set()
    while stop.is_visible():
        seen.add(len(body.inner_text()))
        page.wait_for_timeout(40)
    assert len(seen - {0}) >= 2, f"the answer should arrive in pieces, saw lengths {sorted(seen)}"
    expect(body).to_contain_text("Tunnelbear Enterprise")

    page.get_by_role("button", name=re.compile(r"^\[1\]")).first.click()
    panel = page.get_by_role("complementary")
    expect(panel.get_by_role("heading", level=2)).to_contain_text("onboarding.pdf")
    expect(panel.locator("mark").first).to_contain_text("VPN client")
    expect(panel.get_by_role("link", name=re.compile("Open the original"))).to_have_attribute(
        "href", re.compile(r"/file\?inline=true#page=\d+$")
    )
    screenshot(page, "chat")

    comment = f"Too short, say who issues tokens ({uuid.uuid4().hex[:6]})"
    answer = page.locator(".msg.assistant").last
    answer.get_by_role("button", name="Bad answer").click()
    answer.get_by_label("Comment (optional)").fill(comment)
    answer.get_by_role("button", name="Send feedback").click()
    expect(answer.get_by_text("Thank you: feedback sent.")).to_be_visible()

    page.goto(server.base + "/admin/feedback")
    item = page.locator("article").filter(has_text=comment)
    expect(item).to_contain_text("What is the VPN client called?")
    expect(item).to_contain_text("Tunnelbear Enterprise")
    expect(item).to_contain_text("[1] onboarding.pdf")
    screenshot(page, "admin-feedback")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))
    assert not [c for c in page.context.cookies() if c["name"] == "docent_access"]
    page.goto(server.base + "/")
    page.wait_for_url(re.compile(r"/login\?next=%2F"))
    screenshot(page, "login")
    assert watch.dialogs == []


def test_a_member_sees_no_administration_and_no_private_document(
    page: Page, server: Server, watch: Watch
) -> None:
    admin = server.token(*ADMIN)
    server.upload(
        admin,
        "juniper.md",
        b"# Project Juniper\n\nProject Juniper ships in March to the Oslo office of Acme.\n",
        "text/markdown",
        visibility="private",
    )
    server.upload(admin, "canteen.md", b"# Canteen\n\nThe canteen serves lunch from noon.\n", "text/markdown")
    email = f"mia-{uuid.uuid4().hex[:6]}@example.com"
    server.create_member(email)
    sign_in(page, server.base, email, MEMBER_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Documents")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)

    response = page.goto(server.base + "/admin/users")
    assert response is not None and response.status == 403
    expect(page.get_by_text("needs the admin role")).to_be_visible()

    page.goto(server.base + "/documents")
    expect(page.get_by_role("link", name="Canteen", exact=True)).to_be_visible()
    expect(page.get_by_text("Juniper")).to_have_count(0)
    page.get_by_label("Search titles").fill("juniper")
    expect(page.get_by_text("0 documents")).to_be_visible()

    page.goto(server.base + "/")
    page.get_by_text("Narrow to tags or documents").click()
    expect(page.get_by_role("checkbox", name="Canteen")).to_be_visible()
    expect(page.get_by_role("list", name="Documents to ask")).not_to_contain_text("Juniper")
    _ask(page, "Where does Project Juniper ship in March?")
    answer = page.locator(".msg.assistant").last
    expect(answer.get_by_role("button", name="Good answer")).to_be_visible()
    assert "oslo" not in answer.inner_text().lower()
    assert "juniper" not in answer.inner_text().lower()
    assert watch.dialogs == []


def test_markup_in_documents_and_answers_stays_inert(page: Page, server: Server, watch: Watch) -> None:
    admin = server.token(*ADMIN)
    payload = (
        b"# Zeppelin hangar\n\nThe zeppelin hangar opens at dawn for maintenance crews. "
        b'<img src=x onerror="window.pwned=3;alert(6)"> <script>window.pwned=4;alert(7)</script> '
        b'[tap here](javascript:alert(8)) <iframe src="javascript:alert(9)"></iframe> '
        b'<a href="javascript:alert(10)">go</a>\n'
    )
    doc_id = server.upload(admin, "zeppelin.md", payload, "text/markdown")
    sign_in(page, server.base, *ADMIN)
    _ask(page, f"When does the zeppelin hangar open? {INJECT}")
    answer = page.locator(".msg.assistant").last
    expect(answer.get_by_role("button", name="Good answer")).to_be_visible()
    expect(answer).to_contain_text('<img src=x onerror="window.pwned=1;alert(1)">')
    expect(answer.locator("strong")).to_have_text("bold")
    answer.get_by_role("button", name=re.compile(r"^\[1\]")).first.click()
    panel = page.get_by_role("complementary")
    expect(panel.locator(".passage")).to_contain_text("<script>window.pwned=4;alert(7)</script>")

    _assert_inert(page)
    page.reload()  # the same answer drawn again from the history (the address names the session)
    expect(page.locator(".msg.assistant").last).to_contain_text("<script>window.pwned=2;alert(2)</script>")
    _assert_inert(page)
    page.goto(f"{server.base}/documents/{doc_id}")
    expect(page.locator(".chunk .text").first).to_contain_text(
        '<img src=x onerror="window.pwned=3;alert(6)">'
    )
    _assert_inert(page)
    page.goto(server.base + "/documents")
    expect(page.get_by_role("link", name="Zeppelin hangar")).to_be_visible()
    _assert_inert(page)
    assert watch.dialogs == []


def _assert_inert(page: Page) -> None:
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src='x'], iframe, main script").count() == 0
    assert page.locator("a[href^='javascript:'], a[href^='data:']").count() == 0


def test_an_oversized_file_is_refused_while_the_others_go_through(page: Page, server: Server) -> None:
    sign_in(page, server.base, *ADMIN)
    page.goto(server.base + "/documents")
    name = f"small-{uuid.uuid4().hex[:6]}.txt"
    page.get_by_label("Upload documents").set_input_files(
        [
            _file(name, b"The greenhouse is watered every Tuesday.", "text/plain"),
            _file("huge.txt", b"x" * (1024 * 1024 + 10), "text/plain"),
            _file("empty.txt", b"", "text/plain"),
        ]
    )
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.get_by_role("listitem").filter(has_text="huge.txt")).to_contain_text(
        "refused: A file is larger than the limit of 1 MB."
    )
    expect(uploads.get_by_role("listitem").filter(has_text="empty.txt")).to_contain_text("refused:")
    expect(uploads.get_by_role("listitem").filter(has_text=name)).to_contain_text("accepted")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "documents-upload")


def test_stop_ends_a_streaming_answer(page: Page, server: Server, scripted_model: ScriptedModel) -> None:
    bikes = b"# Bicycle storage\n\nBicycles are stored in the basement rack next to the lifts.\n"
    server.upload(server.token(*ADMIN), "bicycles.md", bikes, "text/markdown")
    sign_in(page, server.base, *ADMIN)
    _ask(page, f"Where are bicycles stored? {SLOW}")
    body = page.locator(".msg.assistant .answer-body").last
    expect(body).to_contain_text("word2")
    page.get_by_role("button", name="Stop").click()
    answer = page.locator(".msg.assistant").last
    expect(answer).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    expect(page.get_by_role("button", name="Ask")).to_be_enabled()
    assert scripted_model.reader_left.wait(30), "the model kept generating after Stop"
    kept = body.inner_text()
    page.reload()
    again = page.locator(".msg.assistant").last
    expect(again).to_contain_text("Stopped before the end")
    assert again.locator(".answer-body").inner_text().startswith(kept.split(" word")[0])


def test_an_expired_session_asks_to_sign_in_without_losing_the_question(
    page: Page, context: BrowserContext, server: Server, watch: Watch
) -> None:
    sign_in(page, server.base, *ADMIN)
    server.upload(
        server.token(*ADMIN), "parking.md", b"# Parking\n\nVisitors park in bay C.\n", "text/markdown"
    )
    question = "Where do visitors park? (typed before the session ended)"
    page.get_by_label("Question").fill(question)
    context.clear_cookies()
    page.get_by_role("button", name="Ask").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Your session ended")
    expect(page.get_by_label("Question")).to_have_value(question)
    expect(dialog.get_by_label("Email")).to_have_value(ADMIN[0])
    dialog.get_by_label("Password").fill(ADMIN[1])
    dialog.get_by_role("button", name="Sign in").click()
    expect(page.locator(".msg.user").last).to_have_text(re.compile("typed before the session ended"))
    expect(page.locator(".msg.assistant").last.get_by_role("button", name="Good answer")).to_be_visible()
    assert watch.dialogs == []


def test_an_expired_access_token_is_refreshed_unseen(
    page: Page, context: BrowserContext, server: Server
) -> None:
    sign_in(page, server.base, *ADMIN)
    kept = [c for c in context.cookies() if c["name"] != "docent_access"]
    context.clear_cookies()
    context.add_cookies(kept)
    _ask(page, "Where do visitors park their cars?")
    expect(page.locator(".msg.assistant").last.get_by_role("button", name="Good answer")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert any(c["name"] == "docent_access" for c in context.cookies())


def test_agent_mode_shows_its_searches_before_the_answer(page: Page, server: Server) -> None:
    parking = b"# Visitor parking\n\nVisitors park on level minus two of the garage, next to the lifts.\n"
    server.upload(server.token(*ADMIN), "parking.md", parking, "text/markdown")
    sign_in(page, server.base, *ADMIN)
    page.get_by_label("Search step by step").check()
    _ask(page, "Where do my visitors leave their cars?")
    answer = page.locator(".msg.assistant").last
    searches = answer.get_by_role("list", name="Searches made")
    expect(searches).to_contain_text(AGENT_QUERY)
    expect(searches).to_contain_text("Visitor parking")
    expect(answer.locator(".answer-body")).to_contain_text("level minus two")
    expect(answer.get_by_role("list", name="Sources")).to_contain_text("Visitor parking")
    screenshot(page, "chat-agent")
