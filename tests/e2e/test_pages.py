"""The rest of what the pages offer: choosing an organisation at sign-in, keyboard use, conversations,
narrowing a question, a document's lifecycle, administration, and one's own keys and password."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import ADMIN, MEMBER_PASSWORD, Server, sign_in


def _ask(page: Page, question: str) -> None:
    """Ask, and wait for this question's own answer to finish (not an earlier one on the page)."""
    before = page.locator(".msg.assistant").count()
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".msg.assistant").nth(before)
    expect(answer.get_by_role("button", name="Good answer")).to_be_visible()


def _markdown(server: Server, token: str, name: str, text: str) -> str:
    return server.upload(token, name, text.encode(), "text/markdown")


def _confirm(page: Page, name: str) -> None:
    page.get_by_role("dialog").get_by_role("button", name=name).click()


def test_sign_in_asks_which_organisation(page: Page, server: Server) -> None:
    email = f"sam-{uuid.uuid4().hex[:6]}@example.com"
    for org in ("north", "south"):
        server.cli("users", "create", "--email", email, "--password", MEMBER_PASSWORD, "--org", org)
    page.goto(server.base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    page.get_by_label("Password").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    organisation = page.get_by_label("Organisation")
    expect(organisation.locator("option")).to_have_text(["north", "south"])
    organisation.select_option("south")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/")
    expect(page.get_by_role("banner")).to_contain_text(email)


def test_a_failed_single_sign_on_is_explained_on_the_sign_in_page(page: Page, server: Server) -> None:
    page.goto(server.base + "/login?sso_error=sso_account_conflict")
    expect(page.get_by_role("alert")).to_contain_text("already linked to another account")
    expect(page.get_by_label("Email")).to_be_visible()  # and the form is there to sign in otherwise
    page.goto(server.base + "/login")
    expect(page.get_by_role("alert")).to_have_count(0)


def test_keyboard_alone_signs_in_asks_and_reads_a_source(page: Page, server: Server) -> None:
    token = server.token(*ADMIN)
    _markdown(server, token, "lockers.md", "# Lockers\n\nLocker keys are handed out at reception.\n")
    page.goto(server.base + "/login")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(ADMIN[0])
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN[1])
    page.keyboard.press("Enter")
    page.wait_for_url(server.base + "/")
    question = page.get_by_label("Question")
    expect(question).to_be_focused()
    page.keyboard.type("Where are locker keys handed out?")
    page.keyboard.press("Enter")
    answer = page.locator(".msg.assistant").last
    expect(answer.get_by_role("button", name="Good answer")).to_be_visible()
    chip = answer.get_by_role("list", name="Sources").get_by_role("button").first
    chip.focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("complementary")
    expect(panel.get_by_role("heading", level=2)).to_be_focused()
    expect(panel.locator("mark").first).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(chip).to_be_focused()
    page.keyboard.press("Shift+Tab")  # everything on the way is reachable: the inline marker before it
    expect(answer.locator(".answer-body button").last).to_be_focused()


def test_conversations_are_listed_opened_continued_and_deleted(page: Page, server: Server) -> None:
    token = server.token(*ADMIN)
    _markdown(server, token, "ferry.md", "# Ferry\n\nThe staff ferry leaves the north pier at 7:40.\n")
    sign_in(page, server.base, *ADMIN)
    topic = uuid.uuid4().hex[:6]
    _ask(page, f"When does the staff ferry leave? ({topic})")
    _ask(page, f"And from which pier? ({topic})")
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".msg.user")).to_have_count(0)
    expect(page.get_by_text("Ask a question about your organisation's documents.")).to_be_visible()
    sessions = page.get_by_role("navigation", name="Conversations")
    newest = sessions.get_by_role("listitem").first
    expect(newest).to_contain_text(f"When does the staff ferry leave? ({topic})")
    newest.get_by_role("button", name=re.compile("ferry")).first.click()
    expect(page.locator(".msg.user")).to_have_count(2)
    _ask(page, f"Is it on weekends too? ({topic})")
    expect(page.locator(".msg.user")).to_have_count(3)
    first = f"When does the staff ferry leave? ({topic})"
    sessions.get_by_role("button", name=f"Delete conversation: {first}").click()
    _confirm(page, "Delete")
    expect(sessions).not_to_contain_text(topic)


def test_a_question_narrowed_to_one_document_cites_only_it(page: Page, server: Server) -> None:
    token = server.token(*ADMIN)
    _markdown(server, token, "apples.md", "# Apples\n\nThe apple harvest starts in September.\n")
    _markdown(server, token, "pears.md", "# Pears\n\nThe pear harvest starts in August.\n")
    sign_in(page, server.base, *ADMIN)
    page.get_by_text("Narrow to tags or documents").click()
    page.get_by_label("Find documents").fill("pea")
    page.get_by_role("checkbox", name="Pears").check()
    _ask(page, "When does the harvest start?")
    chips = page.locator(".msg.assistant").last.get_by_role("list", name="Sources").get_by_role("button")
    expect(chips).to_have_count(1)
    expect(chips.first).to_have_accessible_name(re.compile(r"^\[1\] Pears"))


def test_a_document_gets_a_new_version_is_reprocessed_and_deleted(page: Page, server: Server) -> None:
    token = server.token(*ADMIN)
    doc = _markdown(server, token, "kiln.md", "# Kiln\n\n## Safety\n\nThe kiln is fired on Fridays.\n")
    sign_in(page, server.base, *ADMIN)
    page.goto(f"{server.base}/documents/{doc}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiln")
    expect(page.locator(".chunk .where").first).to_contain_text("Kiln \u203a Safety")
    monday = b"# Kiln\n\nThe kiln is fired on Mondays.\n"
    new_version = {"name": "kiln.md", "mimeType": "text/markdown", "buffer": monday}
    page.get_by_label("New version").set_input_files(new_version)
    page.get_by_role("button", name="Upload new version").click()
    versions = page.get_by_role("region", name="Versions")
    expect(versions.get_by_role("row")).to_have_count(3)  # header and two versions
    expect(page.locator(".chunk .text").first).to_contain_text("Mondays", timeout=60_000)
    page.get_by_role("button", name="Reprocess").click()
    expect(page.get_by_text("Queued for processing again.")).to_be_visible()
    download = page.get_by_role("link", name="Download")
    expect(download).to_have_attribute("href", f"/api/v1/documents/{doc}/file")
    page.get_by_role("button", name="Delete").click()
    _confirm(page, "Delete")
    page.wait_for_url(server.base + "/documents")
    page.get_by_label("Search titles").fill("Kiln")
    expect(page.get_by_text("0 documents")).to_be_visible()


def test_admin_manages_users_groups_and_the_index(page: Page, server: Server) -> None:
    sign_in(page, server.base, *ADMIN)
    page.goto(server.base + "/admin/users")
    email = f"lee-{uuid.uuid4().hex[:6]}@example.com"
    page.get_by_label("Email").fill(email)
    page.get_by_label("Initial password").fill(MEMBER_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text(f"Created {email}.")).to_be_visible()
    page.get_by_label(f"Role of {email}").select_option("admin")
    expect(page.get_by_label(f"Role of {email}")).to_have_value("admin")
    page.get_by_role("button", name=f"Deactivate {email}").click()
    _confirm(page, "Deactivate")
    expect(page.get_by_role("row").filter(has_text=email)).to_contain_text("deactivated")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Groups").click()
    group = f"Finance {uuid.uuid4().hex[:4]}"
    page.get_by_label("Group name").fill(group)
    page.get_by_role("button", name="Create group").click()
    card = page.get_by_role("region", name=f"Group {group}")
    card.get_by_label(f"User to add to {group}").select_option(label=email)
    card.get_by_role("button", name="Add member").click()
    expect(card.get_by_role("list")).to_contain_text(email)
    card.get_by_role("button", name=f"Remove {email} from {group}").click()
    expect(card.get_by_role("list")).to_contain_text("No members yet.")

    page.goto(server.base + "/admin/index")
    page.get_by_role("button", name="Run check").click()
    expect(page.get_by_text("The index is consistent.")).to_be_visible(timeout=60_000)
    page.goto(server.base + "/admin/audit")
    page.get_by_label("Action").fill("user.created")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("table")).to_contain_text("user.created")


def test_a_member_manages_keys_and_changes_their_password(
    page: Page, context: BrowserContext, server: Server
) -> None:
    email = f"kim-{uuid.uuid4().hex[:6]}@example.com"
    server.create_member(email)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    sign_in(page, server.base, email, MEMBER_PASSWORD)
    page.goto(server.base + "/account")
    page.get_by_label("Key name").fill("spreadsheet")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator(".secret code")
    expect(secret).to_have_text(re.compile(r"^dk_"))
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret.inner_text()
    page.reload()
    expect(page.locator(".secret code")).to_have_count(0)  # shown once
    expect(page.get_by_role("row").filter(has_text="spreadsheet")).to_contain_text("never")
    page.get_by_role("button", name="Revoke key spreadsheet").click()
    _confirm(page, "Revoke")
    expect(page.get_by_text("No keys yet.")).to_be_visible()

    new_password = "A-new-and-longer-passw0rd"
    page.get_by_label("Current password").fill(MEMBER_PASSWORD)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed.")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile("/login"))
    sign_in(page, server.base, email, new_password)
