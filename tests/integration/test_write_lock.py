"""Reads never take SQLite's write lock: while another connection holds it (as uploads and ingestion do),
requests that only read are answered at once, and an API key's last use is written after the response."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import event

from docent.api.app import create_app
from docent.auth.passwords import PasswordHasher
from docent.container import build_container
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_HASHER, Api, make_settings
from tests.http_servers import uvicorn_serving

POLICY = b"# Passwords\n\nPasswords must be rotated every 90 days.\n"


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Another connection holds SQLite's write lock for the whole block, as an upload's transaction does."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_reads_are_answered_while_another_connection_holds_the_write_lock(
    sqlite_template: Path, tmp_path: Path, embedder: Any
) -> None:
    path = tmp_path / "docent.db"
    shutil.copy(sqlite_template, path)
    settings = make_settings(f"sqlite:///{path}", tmp_path)
    app = create_app(settings, build_container(settings, embedder=embedder, hasher=TEST_HASHER))
    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        login = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = client.post("/api/v1/api-keys", json={"name": "sync"}, headers=admin).json()
        files = [("files", ("passwords.md", POLICY, "text/markdown"))]
        (document,) = client.post("/api/v1/documents", files=files, headers=admin).json()["documents"]
        deadline = time.monotonic() + 120
        while (
            client.get(f"/api/v1/documents/{document['id']}", headers=admin).json()["status"] != "completed"
        ):
            assert time.monotonic() < deadline, "the document was not indexed"
            time.sleep(0.1)

        with write_lock_held(path):
            # Before, the key's last use was written in this GET's read transaction: 500 "database is locked"
            # (or a wait of the whole busy timeout).
            listed = client.get("/api/v1/documents", headers={"Authorization": f"Bearer {key['key']}"})
            assert listed.status_code == 200, listed.text
            assert [d["id"] for d in listed.json()["items"]] == [document["id"]]
            found = client.post("/api/v1/search", json={"query": "password rotation"}, headers=admin)
            assert found.status_code == 200, found.text
            assert found.json()["results"]
            stamped = client.get("/api/v1/api-keys", headers=admin).json()["items"][0]["last_used_at"]
            assert stamped is None  # not written yet: it waits for the lock, after the response

        deadline = time.monotonic() + 30  # the recorder's write goes through once the lock is released
        while client.get("/api/v1/api-keys", headers=admin).json()["items"][0]["last_used_at"] is None:
            assert time.monotonic() < deadline, "the key's last use was never written"
            time.sleep(0.1)


def test_an_upload_holds_no_write_lock_while_its_body_arrives(
    sqlite_template: Path, tmp_path: Path, embedder: Any
) -> None:
    """The request's transaction begins only when the route first writes: a slow client sending a file
    leaves the write lock to everyone else meanwhile."""
    path = tmp_path / "docent.db"
    shutil.copy(sqlite_template, path)
    settings = make_settings(f"sqlite:///{path}", tmp_path, embedded_worker=False)
    app = create_app(settings, build_container(settings, embedder=embedder, hasher=TEST_HASHER))
    halfway, go_on = threading.Event(), threading.Event()

    def slow_body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="p.md"\r\n'
        yield b"Content-Type: text/markdown\r\n\r\n# Passwords\n\n"
        halfway.set()
        assert go_on.wait(30)
        yield b"Passwords must be rotated every 90 days.\n\r\n--b--\r\n"

    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        headers = {
            "Authorization": f"Bearer {login.json()['access_token']}",
            "Content-Type": "multipart/form-data; boundary=b",
        }
        result: list[httpx.Response] = []
        upload = threading.Thread(
            target=lambda: result.append(
                client.post("/api/v1/documents", content=slow_body(), headers=headers)
            )
        )
        upload.start()
        assert halfway.wait(30)
        time.sleep(0.5)  # the route is reading the body by now
        other = sqlite3.connect(path, isolation_level=None, timeout=2)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails with "database is locked" if the upload held the lock
            other.execute("ROLLBACK")
        finally:
            other.close()
            go_on.set()
            upload.join()
        assert result[0].status_code == 202, result[0].text


def test_a_keys_last_use_is_written_once_a_minute_at_most(client: TestClient, api: Api) -> None:
    admin = api.headers()
    secret = client.post("/api/v1/api-keys", json={"name": "busy"}, headers=admin).json()["key"]
    engine = client.app.state.container.database.engine  # type: ignore[attr-defined]
    updates: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    for _ in range(4):
        assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    event.remove(engine, "before_cursor_execute", record)
    assert len(updates) == 1
    assert client.get("/api/v1/api-keys", headers=admin).json()["items"][0]["last_used_at"] is not None


class _PausingHasher(PasswordHasher):
    """The test hasher, stopping inside each hash and verify until told to go on: a production hash takes
    seconds under load."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost_kib=8, parallelism=1)
        self.inside, self.go_on = threading.Event(), threading.Event()

    def _pause(self) -> None:
        self.inside.set()
        assert self.go_on.wait(30)

    def hash(self, password: str) -> str:
        self._pause()
        return super().hash(password)

    def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        self._pause()
        return super().verify(password, password_hash)


def _takes_the_write_lock(path: Path) -> None:
    other = sqlite3.connect(path, isolation_level=None, timeout=2)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the request hashed while holding it
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_password_hashing_holds_no_write_lock(sqlite_template: Path, tmp_path: Path, embedder: Any) -> None:
    """Logging in, creating a user and changing a password hash while no transaction holds the lock: under
    load a hash takes seconds, and other requests' writes waited on it until 500 "database is locked"."""
    path = tmp_path / "docent.db"
    shutil.copy(sqlite_template, path)
    settings = make_settings(f"sqlite:///{path}", tmp_path, embedded_worker=False)
    hasher = _PausingHasher()
    hasher.go_on.set()
    app = create_app(settings, build_container(settings, embedder=embedder, hasher=hasher))
    with uvicorn_serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        new_user = {"email": "new@example.com", "password": "a long enough password", "role": "member"}
        requests = {
            "login": lambda: client.post(
                "/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            ),
            "create user": lambda: client.post("/api/v1/users", json=new_user, headers=admin),
            "change password": lambda: client.post(
                "/api/v1/auth/password",
                json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "!"},
                headers=admin,
            ),
        }
        for name, send in requests.items():
            hasher.inside.clear()
            hasher.go_on.clear()
            result: list[httpx.Response] = []
            request = threading.Thread(target=lambda send=send, result=result: result.append(send()))
            request.start()
            assert hasher.inside.wait(30), name
            try:
                _takes_the_write_lock(path)
            finally:
                hasher.go_on.set()
                request.join()
            assert result[0].status_code in (200, 201, 204), (name, result[0].text)
