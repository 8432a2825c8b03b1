"""The stand-ins the tests share: a scripted OpenAI chat-completions server and a scripted OpenAI embeddings
server (real HTTP servers on 127.0.0.1, the one kind of stand-in the rules allow: a remote model), and a
clock a test sets by hand.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.http_servers import serving, url_of


class Clock:
    """A monotonic clock that stands still until the test moves `now`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------- OpenAI chat completions ----------

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
PARIS = ["Paris", " is the capital", " of France", " [1]", "."]  # the default streamed reply
# The dripping reply: it cites at once, as the answer guard wants before it shows anything (its last 200
# characters are held back, so the reader sees the first words once about 30 have come).
DRIP = [" Paris [1].", *(f" word{n}" for n in range(199))]


def chat_chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` of a streamed reply."""
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def chat_completion(text: str, usage: dict[str, int] | None = USAGE) -> dict[str, Any]:
    """A whole (not streamed) `chat.completion`."""
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _tool_call(call_id: str, query: str) -> dict[str, Any]:
    arguments = query.removeprefix("raw:") if query.startswith("raw:") else json.dumps({"query": query})
    return {"id": call_id, "type": "function", "function": {"name": "search", "arguments": arguments}}


@dataclass
class FakeChat:
    """What the scripted chat model says, and what it saw. The requested model name picks the behaviour, so
    one server plays every provider of a chain:

    - `status-NNN`: that HTTP status with an OpenAI error body that echoes the caller's key (servers do);
    - `slow`: a whole completion after `slow_seconds`;
    - `drip`: the 200 pieces of DRIP, `drip_seconds` apart, after `first_token_seconds`;
    - `garbage`, `malformed`, `not-json`, `truncated`, `truncated-early`, `error-midstream`: broken replies;
    - `no-usage`: like any other name, without token counts;
    - a name in `replies`: those pieces streamed;
    - a request offering `tools` (agent mode): the model's turns in `tool_turns` for its name, in order,
      the last one repeated for ever (counted in each conversation); a turn is the answer's text (a str)
      or tool calls (a tuple of search queries, `{n}` in one replaced by the call's number; `raw:TEXT`
      sends TEXT as the arguments). With `tool_choice` "none" it answers `tool_final` (or `reply`
      joined). `tool_seconds` before each turn;
    - any other name: `reply` streamed, or `rewrite` when not streamed; with `gate` given, a streamed reply
      starts once it is set (or the server stops).

    Stopping the server (`serve_chat`) cuts short the slow and dripping answers."""

    reply: Sequence[str] = tuple(PARIS)
    replies: dict[str, Sequence[str]] = field(default_factory=dict)  # by model name, instead of `reply`
    rewrite: str = "Standalone: the leave policy?"
    usage: dict[str, int] = field(default_factory=lambda: dict(USAGE))
    rewrite_usage: dict[str, int] = field(default_factory=lambda: dict(USAGE))
    tool_turns: dict[str, Sequence[str | tuple[str, ...]]] = field(default_factory=dict)
    tool_final: dict[str, str] = field(default_factory=dict)
    tool_usage: dict[str, int] = field(default_factory=lambda: dict(USAGE))
    tool_seconds: float = 0.0
    slow_seconds: float = 2.0
    drip_seconds: float = 0.02
    first_token_seconds: float = 0.0
    gate: threading.Event | None = None  # holds streamed replies until set (see above)
    url: str = ""  # of the running server, with /v1
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # names in lower case
    asked: list[str] = field(default_factory=list)  # the model names, in order
    calls: list[str] = field(default_factory=list)  # "answer" (streamed) or "rewrite" (not), in order
    sent: int = 0  # pieces of the dripping reply written
    disconnected: threading.Event = field(default_factory=threading.Event)  # a reader hung up
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def hits(self) -> Counter[str]:
        return Counter(self.asked)

    @property
    def authorizations(self) -> list[tuple[str, str]]:
        """(model, Authorization header) of each request."""
        return [
            (b["model"], h.get("authorization", "")) for b, h in zip(self.requests, self.headers, strict=True)
        ]


@contextmanager
def serve_chat(fake: FakeChat | None = None) -> Iterator[FakeChat]:
    """`fake` (a default one if None) answering on 127.0.0.1 until the block ends; its `url` is set."""
    fake = fake or FakeChat()
    handler = type("ScriptedChatHandler", (_ChatHandler,), {"fake": fake})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler), before_stop=fake.stopping.set) as httpd:
        fake.url = url_of(httpd, "/v1")
        yield fake


class _ChatHandler(BaseHTTPRequestHandler):
    fake: FakeChat

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not a server log."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.fake.requests.append(body)
        self.fake.headers.append({k.lower(): v for k, v in self.headers.items()})
        self.fake.asked.append(body["model"])
        kind = "tools" if body.get("tools") else "answer" if body.get("stream") else "rewrite"
        self.fake.calls.append(kind)
        try:
            self._answer(body["model"], body)
        except OSError:  # broken pipe, reset: the reader (Docent) closed the connection
            self.fake.disconnected.set()

    def _answer(self, model: str, body: dict[str, Any]) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if model.startswith("status-"):
            message = f"refused; you sent key {key}"  # servers do echo keys: it must not leak
            error = {"message": message, "type": "x", "code": None}
            return self._json(int(model.removeprefix("status-")), {"error": error})
        if model == "slow":
            self.fake.stopping.wait(self.fake.slow_seconds)
            return self._json(200, chat_completion("too late"))
        if body.get("tools"):
            return self._tool_turn(model, body)
        if not body.get("stream"):
            if model == "malformed":
                return self._json(200, {"unexpected": True})
            if model == "not-json":
                return self._raw(200, "application/json", b"<html>gateway</html>")
            usage = None if model == "no-usage" else self.fake.rewrite_usage
            return self._json(200, chat_completion(self.fake.rewrite, usage))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.flush()
        if model == "drip":
            return self._drip()
        self._stream(model, key, body)

    def _stream(self, model: str, key: str, body: dict[str, Any]) -> None:
        if model == "garbage":
            self.wfile.write(b"data: <html>not an event stream</html>\n\n")
            return
        if model == "truncated-early":
            return  # headers, then the connection closes: no event at all
        if model in ("malformed", "error-midstream"):
            self._event(chat_chunk(self.fake.replies.get(model, self.fake.reply)[0]))
            if model == "malformed":
                self.wfile.write(b"data: {this is not json\n\n")
            else:
                self._event({"error": {"message": f"overloaded (key {key})", "type": "server_error"}})
            return
        gate = self.fake.gate
        while gate is not None and not gate.is_set() and not self.fake.stopping.is_set():
            gate.wait(0.05)
        for piece in self.fake.replies.get(model, self.fake.reply):
            self._event(chat_chunk(piece))
        if model == "truncated":
            return  # the connection closes with no finish reason and no [DONE]
        self._event(chat_chunk(finish="stop"))
        if body.get("stream_options", {}).get("include_usage") and model != "no-usage":
            self._event({**chat_chunk(), "choices": [], "usage": self.fake.usage})
        self.wfile.write(b"data: [DONE]\n\n")

    def _tool_turn(self, model: str, body: dict[str, Any]) -> None:
        fake = self.fake
        if fake.stopping.wait(fake.tool_seconds):
            return
        # The turn of this conversation: one more than the tool-calling turns it already holds.
        turn_number = 1 + sum(1 for m in body["messages"] if m.get("tool_calls"))
        turns = fake.tool_turns.get(model) or ["".join(fake.reply)]
        turn = turns[min(turn_number, len(turns)) - 1]
        if body.get("tool_choice") == "none":
            turn = fake.tool_final.get(model, "".join(fake.reply))
        message: dict[str, Any] = {"role": "assistant", "content": turn if isinstance(turn, str) else None}
        if not isinstance(turn, str):
            calls_so_far = sum(len(m.get("tool_calls") or []) for m in body["messages"])
            message["tool_calls"] = [
                _tool_call(f"call_{calls_so_far + i + 1}", query.replace("{n}", str(calls_so_far + i + 1)))
                for i, query in enumerate(turn)
            ]
        finish = "stop" if isinstance(turn, str) else "tool_calls"
        reply = chat_completion("", fake.tool_usage)
        reply["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        self._json(200, reply)

    def _drip(self) -> None:
        if self.fake.stopping.wait(self.fake.first_token_seconds):
            return
        for piece in DRIP:
            self._event(chat_chunk(piece))
            self.fake.sent += 1
            if self.fake.stopping.wait(self.fake.drip_seconds):
                return
        self._event(chat_chunk(finish="stop"))
        self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._raw(status, "application/json", json.dumps(body).encode())

    def _raw(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# ---------- OpenAI embeddings ----------


def fake_vector(text: str, dimension: int) -> list[float]:
    """Deterministic, not normalised (the adapter must normalise), different for different texts."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(text)) + len(text)
    return [float((seed * (k + 3)) % 17 + 1) for k in range(dimension)]


@dataclass
class FakeEmbeddings:
    """`/<mode>/v1/embeddings`: the first part of the path picks the behaviour, so one server serves every
    test: `ok` (vectors by `fake_vector`, listed out of order), `slow` (answers once `release` is set),
    `error500`, `ratelimited`, `unauthorised`, `badrequest` (errors that echo the key), `garbage`, `ragged`,
    `short`. Whatever the mode, the next `failures_left` requests are answered 503."""

    dimension: int = 8
    failures_left: int = 0
    port: int = 0  # of the running server
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, mode: str = "ok") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"


@contextmanager
def serve_embeddings(fake: FakeEmbeddings | None = None) -> Iterator[FakeEmbeddings]:
    fake = fake or FakeEmbeddings()
    httpd = _QuietServer(
        ("127.0.0.1", 0), type("ScriptedEmbeddingsHandler", (_EmbeddingsHandler,), {"fake": fake})
    )
    with serving(httpd, before_stop=fake.release.set):
        fake.port = httpd.server_address[1]
        yield fake


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handlers, so no thread outlives the server

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) makes the late reply fail; that is expected."""


_STATUSES = {"error500": 500, "ratelimited": 429, "unauthorised": 401, "badrequest": 400}


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    fake: FakeEmbeddings

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = self.path.strip("/").split("/")[0]
        auth = self.headers.get("Authorization")
        self.fake.requests.append({"mode": mode, "path": self.path, "auth": auth, "body": body})
        if self.fake.failures_left > 0:
            self.fake.failures_left -= 1
            return self._reply(503, {"error": {"message": "overloaded", "type": "server_error"}})
        if mode == "slow":
            self.fake.release.wait(10)
        if mode in _STATUSES:
            # Like some servers, echo the key back: the adapter must not pass it on.
            message = f"refused for key {(auth or '')[7:]}"
            return self._reply(_STATUSES[mode], {"error": {"message": message, "type": "error"}})
        if mode == "garbage":
            return self._reply(200, {"object": "list", "data": [{"index": "x", "embedding": None}]})
        if mode == "ragged":
            data = [{"object": "embedding", "index": i, "embedding": [1.0] * (i + 1)} for i in range(3)]
            return self._reply(200, {"object": "list", "data": data, "model": "m"})
        texts: list[str] = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t, self.fake.dimension)}
            for i, t in enumerate(texts)
        ]
        if mode == "short":
            data = data[:-1]
        data.reverse()  # out of order: the adapter must sort by index
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        self._reply(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
