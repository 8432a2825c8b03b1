"""Parsing in a separate process per document, with a memory limit and a wall-clock limit.

A hostile file (a zip or XML bomb, markup nested 150,000 deep, a PDF whose objects loop) can make a
parser take gigabytes or never finish. Run in the server, it takes the server down with it and holds the
worker thread for good. So every document is parsed in a process of its own, which sets RLIMIT_AS
(memory) and RLIMIT_CPU (a backstop) on itself and is killed when the wall-clock limit passes; its memory
goes back to the system when it exits, and what it sends back is one JSON message of plain data.

Those processes are forked, one per document, by parse servers (parse_child.py): fresh interpreters that
imported the parser libraries once. The server process itself is never forked (its torch and tokenizer
threads make that unsafe), and no document pays the ~1 s of imports a fresh interpreter would. There is
one parse server per parse running at once (the worker threads), shared by everything in this process,
started on first use and ended with this process.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from docent.errors import ErrorCode
from docent.ingest.limits import DOCUMENT_TOO_COMPLEX, PARSE_TIMEOUT, ParseLimits, check_output
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure, Section
from docent.observability.logs import get_logger

_log = get_logger(__name__)
# How long past its deadline a parse server may take to report before it is taken for broken.
_REPORT_GRACE_SECONDS = 10.0
# A parse process that dies without an answer after its resident memory reached this share of its limit
# ran out of memory, however the interpreter then died (an abort, a crash, a failed write): at a 256 MB
# limit such parses peaked at 217.6-217.9 MB resident (85%), a parse of a small file at about 52 MB.
_MEMORY_USED_UP = 0.75
_KILL = json.dumps({"kill": True}).encode()


class ParseInterrupted(Exception):  # noqa: N818 - not an error: the worker is stopping
    """The parse was stopped because the worker is shutting down; the job should run again later."""


class _ParseServer:
    """One parse server process and the socket to it."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "docent.ingest.parse_child", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())

    def kill_parse(self) -> None:
        with contextlib.suppress(OSError):  # the parse server is gone: so is its child
            self.conn.send_bytes(_KILL)

    def close(self) -> None:
        self.conn.close()
        self.process.kill()
        self.process.wait()


class _Pool:
    """Idle parse servers, shared by every sandbox in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_ParseServer] = []
        self._all: set[_ParseServer] = set()
        atexit.register(self.close)

    def take(self) -> _ParseServer:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        server = _ParseServer()
        with self._lock:
            self._all.add(server)
        return server

    def give_back(self, server: _ParseServer) -> None:
        with self._lock:
            self._idle.append(server)

    def forget(self, server: _ParseServer) -> None:
        with self._lock:
            self._all.discard(server)

    def close(self) -> None:
        """At exit: the parse servers would end by themselves (their socket closes); reap them."""
        with self._lock:
            servers, self._all, self._idle = list(self._all), set(), []
        for server in servers:
            server.close()


_POOL = _Pool()


class ParseSandbox:
    """Parses documents in child processes; thread-safe."""

    def __init__(self, limits: ParseLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._busy: set[_ParseServer] = set()
        self._interrupted = False

    def parse(self, content_type: ContentType, path: Path) -> ParsedDocument:
        """The parsed document, or ParseFailure (with `parse_timeout` and `document_too_complex` for the
        limits), or ParseInterrupted once `interrupt` was called."""
        started = time.monotonic()
        server = _POOL.take()
        limits = dataclasses.asdict(self.limits)
        request = {"content_type": content_type.value, "path": str(path), "limits": limits}
        try:
            # Sent under the lock `interrupt` takes: a parse is either refused or reachable by its kill.
            with self._lock:
                if self._interrupted:
                    raise ParseInterrupted()
                self._busy.add(server)
                server.conn.send_bytes(json.dumps(request).encode())
            answer, status = self._receive(server)
        except ParseInterrupted:
            _POOL.give_back(server)
            raise
        except TimeoutError:
            self._drop(server)
            raise ParseFailure(PARSE_TIMEOUT, self._timeout_message()) from None
        except (OSError, EOFError, ValueError) as exc:
            self._drop(server)
            raise RuntimeError("the parse server stopped unexpectedly") from exc  # retried
        with self._lock:
            self._busy.discard(server)
        _POOL.give_back(server)
        try:
            document = self._outcome(answer, status, path)
        except ParseFailure as failure:
            self._report(path, started, status, failure.code)
            raise
        self._report(path, started, status, "parsed")
        return document

    def interrupt(self) -> None:
        """Kill every parse in flight and refuse new ones (the worker is stopping)."""
        with self._lock:
            self._interrupted = True
            for server in self._busy:
                server.kill_parse()

    def _report(self, path: Path, started: float, status: dict[str, Any], outcome: str) -> None:
        peak = status.get("peak_rss_kb")
        _log.info(
            "document_parse_finished",
            file=path.name,
            outcome=outcome,
            seconds=round(time.monotonic() - started, 3),
            peak_memory_mb=round(peak / 1024, 1) if isinstance(peak, int) else None,
        )

    def _drop(self, server: _ParseServer) -> None:
        """A parse server that broke, or stopped answering past its own deadline, is never reused."""
        with self._lock:
            self._busy.discard(server)
        _POOL.forget(server)
        server.close()
        _log.warning("parse_server_lost")

    def _receive(self, server: _ParseServer) -> tuple[bytes, dict[str, Any]]:
        # Past the parse's own deadline the parse server has killed the child; this only guards against
        # a parse server that stopped answering.
        most = 4 * self.limits.max_text_chars + 200 * self.limits.max_sections + 2_000_000
        if not server.conn.poll(self.limits.timeout_seconds + _REPORT_GRACE_SECONDS):
            raise TimeoutError
        answer = server.conn.recv_bytes(most)
        if not server.conn.poll(_REPORT_GRACE_SECONDS):
            raise TimeoutError
        status = json.loads(server.conn.recv_bytes(1000))
        if not isinstance(status, dict):
            raise ValueError("malformed status")
        return answer, status

    def _outcome(self, answer: bytes, status: dict[str, Any], path: Path) -> ParsedDocument:
        if not answer:
            raise self._no_answer(status, path)
        try:
            payload = json.loads(answer)
        except (ValueError, RecursionError):
            raise _malformed() from None
        document = _document(payload)
        check_output(document, self.limits)  # the child checked too; the server does not rely on it
        return document

    def _no_answer(self, status: dict[str, Any], path: Path) -> Exception:
        stopped, code = status.get("stopped"), status.get("exit")
        if stopped == "interrupt":
            return ParseInterrupted()
        if stopped == "timeout" or code == -signal.SIGXCPU:
            return ParseFailure(PARSE_TIMEOUT, self._timeout_message())
        if stopped == "oversized":
            return ParseFailure(DOCUMENT_TOO_COMPLEX, "The parser's output was larger than any limit allows.")
        peak = status.get("peak_rss_kb")
        peak_mb = peak / 1024 if isinstance(peak, int) else 0.0
        _log.warning("parse_process_died", exit_code=code, peak_memory_mb=round(peak_mb, 1), file=path.name)
        if code == -signal.SIGKILL:  # not ours: the kernel's out-of-memory killer
            return ParseFailure(
                DOCUMENT_TOO_COMPLEX, "Parsing the document needed more memory than the server could give."
            )
        # SIGABRT: how the interpreter dies when an allocation fails past the memory limit.
        if code == -signal.SIGABRT or peak_mb >= _MEMORY_USED_UP * self.limits.max_memory_mb:
            return ParseFailure(
                DOCUMENT_TOO_COMPLEX,
                f"Parsing the document needed more than the {self.limits.max_memory_mb} MB of memory a parse "
                "may use.",
            )
        return ParseFailure(ErrorCode.PARSE_ERROR, f"The parser stopped unexpectedly (exit status {code}).")

    def _timeout_message(self) -> str:
        seconds = self.limits.timeout_seconds
        return f"Parsing the document took longer than {seconds:g} seconds and was stopped."


def _code(value: str) -> ErrorCode:
    """The child names a code by its value; anything else it says is a parser fault, not a new code."""
    return next((code for code in ErrorCode if code.value == value), ErrorCode.PARSE_ERROR)


def _document(payload: Any) -> ParsedDocument:
    """The child's JSON, checked shape by shape: it is data from a process that read hostile bytes."""
    if not isinstance(payload, dict):
        raise _malformed()
    failure = payload.get("failure")
    if failure is not None:
        if not (isinstance(failure, list) and len(failure) == 2 and all(isinstance(x, str) for x in failure)):
            raise _malformed()
        raise ParseFailure(_code(failure[0]), failure[1][:2000])
    raw = payload.get("document")
    if not isinstance(raw, dict) or not isinstance(raw.get("sections"), list):
        raise _malformed()
    title, page_count, warnings = raw.get("title"), raw.get("page_count"), raw.get("warnings", [])
    if not (_optional(title, str) and _optional(page_count, int) and isinstance(warnings, list)):
        raise _malformed()
    return ParsedDocument(
        title=title,
        sections=[_section(item) for item in raw["sections"]],
        page_count=page_count,
        warnings=[w for w in warnings if isinstance(w, str)],
    )


def _section(item: Any) -> Section:
    if not (isinstance(item, list) and len(item) == 3):
        raise _malformed()
    text, page, path = item
    if not (isinstance(text, str) and _optional(page, int) and isinstance(path, list)):
        raise _malformed()
    if not all(isinstance(heading, str) for heading in path):
        raise _malformed()
    return Section(text=text, page=page, section_path=tuple(path))


def _optional(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def _malformed() -> ParseFailure:
    return ParseFailure(ErrorCode.PARSE_ERROR, "The parser returned a malformed result.")
