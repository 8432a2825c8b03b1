"""The OpenAI-compatible API, driven by the official `openai` client against Docent served on a local port."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import uvicorn

from docent.api.app import create_app
from docent.container import build_container
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_HASHER, make_settings
from tests.samples import sample_files


@pytest.fixture
def served(database_url: str, tmp_path: Path, embedder: Any) -> Iterator[str]:
    settings = make_settings(database_url, tmp_path)
    app = create_app(settings, build_container(settings, embedder=embedder, hasher=TEST_HASHER))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


@pytest.fixture
def token(served: str) -> str:
    with httpx.Client(base_url=served, timeout=60) as http:
        login = http.post("/api/v1/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        access: str = login.json()["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        files = [(field, spec) for field, spec in sample_files()]
        uploaded = http.post("/api/v1/documents", files=files, data={"visibility": "org"}, headers=headers)
        for document in uploaded.json()["documents"]:
            while http.get(f"/api/v1/documents/{document['id']}", headers=headers).json()["status"] not in (
                "completed",
                "failed",
            ):
                time.sleep(0.1)
    return access


def test_the_official_client_lists_answers_streams_and_embeds(served: str, token: str) -> None:
    client = openai.OpenAI(base_url=f"{served}/v1", api_key=token, max_retries=0)
    assert "docent" in [model.id for model in client.models.list()]

    answer = client.chat.completions.create(
        model="docent",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How many weeks of paid parental leave do parents get?"},
        ],
    )
    content = answer.choices[0].message.content or ""
    assert "sixteen" in content.lower() and "[1]" in content and "Sources:" in content
    extra = answer.model_extra or {}
    assert extra["citations"] and extra["citations"][0]["title"]

    chunks = list(
        client.chat.completions.create(
            model="docent",
            stream=True,
            messages=[{"role": "user", "content": "How often must passwords be rotated?"}],
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "90" in streamed and "Sources:" in streamed
    assert chunks[-1].choices[0].finish_reason == "stop"

    vectors = client.embeddings.create(model="docent", input=["first text", "second text"])
    assert [len(item.embedding) for item in vectors.data] == [384, 384]


def test_bad_requests_get_the_error_shape(served: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=served, timeout=60) as http:
        no_user = http.post(
            "/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]}, headers=headers
        )
        assert no_user.status_code == 400 and no_user.json()["error"]["code"] == "no_question"
        tool_only = http.post("/v1/chat/completions", json={"messages": [{"role": "tool"}]}, headers=headers)
        assert tool_only.status_code == 400 and tool_only.json()["error"]["code"] == "no_question"
        assert http.post("/v1/embeddings", json={"input": []}, headers=headers).status_code == 422
        assert http.get("/v1/models").status_code == 401


def test_what_chat_front_ends_rely_on(served: str, token: str) -> None:
    """Real token counts, long title/tag prompts answered, base64 embeddings, models with creation times."""
    client = openai.OpenAI(base_url=f"{served}/v1", api_key=token, max_retries=0)
    before = int(time.time())
    models = client.models.list().data
    assert all(0 < model.created <= before + 1 for model in models)

    question = "How many weeks of paid parental leave do parents get?"
    answer = client.chat.completions.create(model="docent", messages=[{"role": "user", "content": question}])
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 5 and usage.completion_tokens > 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    history = " ".join(
        f"USER: question {n} about the handbook. ASSISTANT: an answer {n}." for n in range(200)
    )
    title_prompt = (
        "### Task:\nGenerate a concise, 3-5 word title summarizing the chat history.\n"
        f"### Chat History:\n<chat_history>\n{history}\n</chat_history>\n\n{question}"
    )
    assert len(title_prompt) > 10_000
    long = client.chat.completions.create(
        model="docent", messages=[{"role": "user", "content": title_prompt}]
    )
    assert "sixteen" in (long.choices[0].message.content or "").lower()
    assert long.usage is not None and long.usage.prompt_tokens > usage.prompt_tokens

    chunks = list(
        client.chat.completions.create(
            model="docent", stream=True, messages=[{"role": "user", "content": question}]
        )
    )
    streamed_usage = next(c.usage for c in reversed(chunks) if c.usage is not None)
    assert streamed_usage.prompt_tokens == usage.prompt_tokens and streamed_usage.completion_tokens > 5

    as_floats = client.embeddings.create(model="docent", input="first text", encoding_format="float")
    with httpx.Client(base_url=served, timeout=60) as http:
        raw = http.post(
            "/v1/embeddings",
            json={"input": "first text", "encoding_format": "base64"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert isinstance(raw["data"][0]["embedding"], str) and raw["model"] == as_floats.model
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, as_floats.data[0].embedding, atol=1e-6)
    by_sdk = client.embeddings.create(model="docent", input="first text")  # the SDK asks for base64 itself
    assert np.allclose(by_sdk.data[0].embedding, as_floats.data[0].embedding, atol=1e-6)
    assert "MiniLM" in as_floats.model
