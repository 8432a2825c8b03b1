"""Browser tests: Playwright drives Debian's chromium against a real `docent serve` (SQLite, the real local
embedder) whose answerer chain starts with a scripted OpenAI-protocol server on 127.0.0.1.

One server and one browser serve the whole suite. chromium must be installed (`apt-get install chromium`;
`.ci/run` does it): without it the suite fails, it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.fakes import chat_chunk
from tests.http_servers import serving, url_of

ADMIN = ("admin@example.com", "Adm1n-Passw0rd-Long!")
MEMBER_PASSWORD = "Memb3r-Passw0rd-Long!"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Words in a question that make the scripted model behave (the documents never contain them).
SLOW = "zebraslow"
INJECT = "zebrainject"
INJECTION = (
    'Here it is: <img src=x onerror="window.pwned=1;alert(1)"> <script>window.pwned=2;alert(2)</script> '
    "[click me](javascript:alert(3)) [mail](data:text/html,<script>alert(4)</script>) "
    '<a href="javascript:alert(5)">link</a> **bold** and `code` [1].'
)
# Cited early and long enough to stream: the guard shows a reply once it cites, less its last 200 characters.
NORMAL = [
    "According to the documents [1],",
    " the VPN client",
    " is Tunnelbear",
    " Enterprise.",
    " It requires",
    " a hardware token,",
    " which IT hands out",
    " with the laptop",
    " on your first day.",
    " Keep the token",
    " with you when",
    " you travel,",
    " since the VPN",
    " asks for it",
    " at every sign-in [1].",
]


AGENT_QUERY = "visitor parking garage"
AGENT_ANSWER = "Visitors park on level minus two of the garage [1]."


@dataclass
class ScriptedModel:
    """What the scripted model saw: questions, and whether a slow reply lost its reader."""

    url: str = ""
    requests: list[str] = field(default_factory=list)
    reader_left: threading.Event = field(default_factory=threading.Event)


def _handler(model: ScriptedModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            last = body["messages"][-1]["content"]
            text = last if isinstance(last, str) else json.dumps(last)
            model.requests.append(text)
            if body.get("tools"):
                self._tool_turn(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            try:
                if SLOW in text:
                    self._event(chat_chunk("Bicycles are stored in the basement rack [1]. "))
                    for i in range(400):  # about two minutes, unless the reader goes away
                        self._event(chat_chunk(f"word{i} "))
                        time.sleep(0.25)
                else:
                    for piece in [INJECTION] if INJECT in text else NORMAL:
                        self._event(chat_chunk(piece))
                        time.sleep(0.15)
                self._event(chat_chunk(finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                model.reader_left.set()

        def _tool_turn(self, body: dict[str, Any]) -> None:
            """Agent mode: one search for the parking rules, then an answer citing what it found."""
            searched = any(m.get("role") == "tool" for m in body["messages"])
            if searched or body.get("tool_choice") == "none":
                message: dict[str, Any] = {"role": "assistant", "content": AGENT_ANSWER}
            else:
                search = {"name": "search", "arguments": json.dumps({"query": AGENT_QUERY})}
                call = {"id": "call-1", "type": "function", "function": search}
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
            reply = {
                "id": "agent", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            }  # fmt: skip
            encoded = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def _event(self, data: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    return Handler


@pytest.fixture(scope="package")
def scripted_model() -> Iterator[ScriptedModel]:
    model = ScriptedModel()
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _handler(model))) as httpd:
        model.url = url_of(httpd, "/v1")
        yield model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    base: str
    log: Path
    env: dict[str, str]
    cwd: Path

    def cli(self, *args: str) -> None:
        """`docent ARGS…` against this server's database (e.g. a user in another organisation)."""
        command = [str(Path(sys.executable).parent / "docent"), *args]
        done = subprocess.run(
            command, env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=60)

    def token(self, email: str, password: str) -> str:
        with self.api() as client:
            response = client.post("/api/v1/auth/login", data={"username": email, "password": password})
            response.raise_for_status()
            return str(response.json()["access_token"])

    def create_member(self, email: str) -> None:
        with self.api(self.token(*ADMIN)) as client:
            response = client.post(
                "/api/v1/users", json={"email": email, "password": MEMBER_PASSWORD, "role": "member"}
            )
            assert response.status_code == 201, response.text

    def upload(self, token: str, name: str, content: bytes, kind: str, visibility: str = "org") -> str:
        with self.api(token) as client:
            response = client.post(
                "/api/v1/documents", files=[("files", (name, content, kind))], data={"visibility": visibility}
            )
            assert response.status_code == 202, response.text
            doc_id = str(response.json()["documents"][0]["id"])
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                status = client.get(f"/api/v1/documents/{doc_id}").json()["status"]
                if status in ("completed", "failed"):
                    assert status == "completed"
                    return doc_id
                time.sleep(0.3)
        raise AssertionError(f"{name} was not indexed in time")


@pytest.fixture(scope="package")
def server(scripted_model: ScriptedModel) -> Iterator[Server]:
    tmp = Path(tempfile.mkdtemp(prefix="docent-e2e-"))
    port = _free_port()
    env = {
        **os.environ,
        "DOCENT_DATABASE_URL": f"sqlite:///{tmp}/docent.db",
        "DOCENT_DATA_DIR": str(tmp),
        "DOCENT_STORAGE_DIR": str(tmp / "files"),
        "DOCENT_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "DOCENT_ADMIN_EMAIL": ADMIN[0],
        "DOCENT_ADMIN_PASSWORD": ADMIN[1],
        "DOCENT_MAX_UPLOAD_MB": "1",
        "DOCENT_LLM_PROVIDERS": f"openai:scripted@{scripted_model.url}|tools=true, extractive",
        "DOCENT_LLM_API_KEY": "e2e-key",
        "DOCENT_ANSWER_CACHE": "false",
        "DOCENT_EMBED_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    docent = [str(Path(sys.executable).parent / "docent")]
    subprocess.run([*docent, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp)
    log = tmp / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*docent, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield Server(base, log, env, tmp)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("docent serve did not start:\n" + log.read_text()[-3000:])


# A shared 2-core machine is slow at times: assertions wait up to 20 s (they return as soon as they hold).
expect.set_options(timeout=20_000)


@pytest.fixture(scope="package")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (the browser tests need it)")
    return path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium: str) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Watch:
    """What a page did that it should not: console errors, uncaught errors, dialogs, other hosts."""

    base: str
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("dialog", self._dialog)
        page.on("request", self._request)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request: Any) -> None:
        if not request.url.startswith((self.base, "data:", "blob:")):
            self.foreign.append(request.url)


@pytest.fixture
def watch(server: Server) -> Watch:
    return Watch(server.base)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Page:
    page = context.new_page()
    watch.attach(page)
    return page


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")
    page.get_by_role("button", name="Sign out").wait_for()


def screenshot(page: Page, name: str) -> None:
    """The page at 1440 and at 360 px wide, into screenshots/ (ignored by git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    size = page.viewport_size or {"width": 1440, "height": 900}
    for width in (1440, 360):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 780})
        page.wait_for_timeout(150)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)
