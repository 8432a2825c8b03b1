"""Answer streams through a real uvicorn server (the test client does not disconnect the way a browser or a
proxy does), with a remote model that writes slowly: a real HTTP server on 127.0.0.1 speaking the OpenAI
chat-completions protocol. Both streaming routes go through one pump (docent.api.streaming)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from docent.api.app import create_app
from docent.container import Container, build_container
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_HASHER, make_settings
from tests.fakes import DRIP, FakeChat, serve_chat
from tests.http_servers import UVICORN_THREAD, uvicorn_serving
from tests.integration.test_chat_providers import LEAVE, QUESTION

PIECE_SECONDS = 0.05  # 200 of them: a model nobody stops is still writing when the test looks


@contextmanager
def docent(
    database_url: str, tmp_path: Path, embedder: Any, model_url: str, **overrides: Any
) -> Iterator[Any]:
    """Docent behind uvicorn with the scripted model first in its chain and one document indexed: an
    httpx client on it, logged in as the admin, and the container (for its database engine)."""
    settings = make_settings(
        database_url, tmp_path, llm_providers=f"openai:drip@{model_url}, extractive", **overrides
    )
    container = build_container(settings, embedder=embedder, hasher=TEST_HASHER)
    with (
        uvicorn_serving(create_app(settings, container)) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        login = client.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        files = [("files", ("leave.md", LEAVE, "text/markdown"))]
        (document,) = client.post("/api/v1/documents", files=files).json()["documents"]
        deadline = time.monotonic() + 120
        while client.get(f"/api/v1/documents/{document['id']}").json()["status"] != "completed":
            assert time.monotonic() < deadline, "the document was not indexed"
            time.sleep(0.1)
        yield client, container


def ask(client: httpx.Client, path: str) -> httpx.Response:
    """A streamed question to the Docent route, or to the OpenAI-compatible one."""
    if path == "docent":
        return client.stream("POST", "/api/v1/chat", json={"question": QUESTION, "stream": True})
    messages = [{"role": "user", "content": QUESTION}]
    return client.stream(
        "POST", "/v1/chat/completions", json={"model": "docent", "stream": True, "messages": messages}
    )


def token_text(path: str, line: str) -> str | None:
    """The answer text a `data:` line of either stream carries, if any."""
    if not line.startswith("data: {"):
        return None
    data = json.loads(line[len("data: ") :])
    if path == "docent":
        return data.get("text")
    choices = data.get("choices") or [{}]
    return choices[0].get("delta", {}).get("content") or None


def threads_writing_messages(container: Container) -> list[str]:
    """The names of the threads that insert chat messages from now on."""
    names: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CHAT_MESSAGES"):
            names.append(threading.current_thread().name)

    event.listen(container.database.engine, "before_cursor_execute", record)
    return names


@pytest.mark.parametrize("path", ["docent", "openai"])
def test_a_client_that_goes_away_stops_the_model_and_the_partial_answer_is_kept(
    path: str, database_url: str, tmp_path: Path, embedder: Any
) -> None:
    with (
        serve_chat(FakeChat(drip_seconds=PIECE_SECONDS)) as model,
        docent(database_url, tmp_path, embedder, model.url) as (client, container),
    ):
        writers = threads_writing_messages(container)
        received: list[str] = []
        with ask(client, path) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                text = token_text(path, line)
                if text:
                    received.append(text)
                if len(received) == 2:
                    break  # leaving the block closes the connection, as a closed browser tab does
        assert model.disconnected.wait(30), "Docent never closed its connection to the model"
        assert model.sent < len(DRIP)  # it was closed before the model had finished
        kept = _kept_answer(client)
        assert kept["provider"] == "interrupted"
        assert kept["text"].startswith("".join(received)) and len(kept["text"]) < len("".join(DRIP))
        assert writers and UVICORN_THREAD not in writers  # kept from a worker thread, not the event loop


def _kept_answer(client: httpx.Client) -> dict[str, Any]:
    """The answer kept in the caller's only session, once it is there (written when the stream closed)."""
    deadline = time.monotonic() + 30
    while True:
        sessions = client.get("/api/v1/chat/sessions").json()["items"]
        if sessions:
            messages = client.get(f"/api/v1/chat/sessions/{sessions[0]['id']}").json()["messages"]
            if len(messages) == 2:
                answer: dict[str, Any] = messages[1]
                return answer
        assert time.monotonic() < deadline, "the partial answer was not kept"
        time.sleep(0.1)


def test_a_silent_model_gets_keep_alive_pings_on_both_routes(
    database_url: str, tmp_path: Path, embedder: Any
) -> None:
    with (
        serve_chat(FakeChat(first_token_seconds=1.5, drip_seconds=PIECE_SECONDS)) as model,
        docent(database_url, tmp_path, embedder, model.url, sse_ping_seconds=0.2) as (client, _container),
    ):
        for path in ("docent", "openai"):
            seen: list[str] = []
            with ask(client, path) as response:
                for line in response.iter_lines():
                    seen.append(line)
                    if token_text(path, line):
                        break
            before_first_token = seen[:-1]
            assert ": ping" in before_first_token, (path, seen)
