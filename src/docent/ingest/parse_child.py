"""The parse server: a small process that forks one child per document and relays what the child says.

Started by `sandbox.py` as `python -m docent.ingest.parse_child FD`: a fresh interpreter, never a fork of
the server, whose torch and tokenizer threads make forking unsafe. It loads the parser libraries (the ~1 s
of pypdf, python-docx, trafilatura and their lxml) and parses a tiny file of each format first, so that
what those libraries import and compile on first use is ready in every child; a fork then costs
milliseconds. The parse server is single-threaded, so forking it is safe.

Protocol on the socket FD (multiprocessing.connection framing, JSON, plain data only):
  server -> here: {"content_type", "path", "limits": {...}}  (a parse)   or  {"kill": true}
  here -> server: the child's answer (bytes, empty when it died without one), then
                  {"exit": status, "stopped": "timeout" | "interrupt" | "oversized" | null, "peak_rss_kb"}
The child limits its own address space and CPU time, closes the socket (it can reach nobody but this
process), and writes one JSON message: {"document": ...} or {"failure": [code, message]}. The deadline is
kept here, and a kill is honoured here, before the child is reaped, so its pid cannot have been reused.
"""

from __future__ import annotations

import ctypes
import gc
import io
import json
import math
import os
import resource
import signal
import sys
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import docx
import pypdf  # noqa: F401 - loaded here on purpose, see the module docstring
import trafilatura  # noqa: F401

from docent.ingest.limits import DOCUMENT_TOO_COMPLEX, ParseLimits, parse_within_limits
from docent.ingest.types import ContentType, ParsedDocument, ParseFailure

_MIB = 1024 * 1024
# Seconds of CPU past the wall-clock limit after which the kernel ends a child by itself.
_CPU_GRACE_SECONDS = 5
_PR_SET_PDEATHSIG = 1
# A failure after the parse came this close to its memory limit is taken for running out of memory.
_NEAR_LIMIT = 0.9


def serve(fd: int) -> None:
    """Answer parse requests on the socket `fd` until the server closes it (or dies: the kernel closes
    its end then, so nothing here outlives the server)."""
    conn = Connection(fd)
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:
            return
        if "kill" in request:
            continue  # a kill that arrived after its parse had ended
        answer, status = _run_one(conn, request)
        conn.send_bytes(answer)
        conn.send_bytes(json.dumps(status).encode())


def _run_one(conn: Connection, request: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    limits = ParseLimits(**request["limits"])
    most = 4 * limits.max_text_chars + 200 * limits.max_sections + _MIB
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        conn.close()
        _child(write_end, request["content_type"], request["path"], limits)
    os.close(write_end)
    deadline = time.monotonic() + limits.timeout_seconds
    chunks: list[bytes] = []
    size, stopped = 0, None
    while stopped is None:
        ready = wait([read_end, conn], timeout=max(0.0, deadline - time.monotonic()))
        if not ready:
            stopped = "timeout"
        elif conn in ready:
            stopped = "interrupt"
            try:
                conn.recv_bytes()  # the only message the server sends during a parse is a kill
            except EOFError:
                stopped = "server gone"
        else:
            chunk = os.read(read_end, _MIB)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > most:
                stopped = "oversized"
    if stopped is not None:
        os.kill(pid, signal.SIGKILL)
        chunks = []
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    if stopped == "server gone":
        sys.exit(0)
    exit_code = os.waitstatus_to_exitcode(status)
    return b"".join(chunks), {"exit": exit_code, "stopped": stopped, "peak_rss_kb": usage.ru_maxrss}


def _child(write_end: int, content_type: str, path: str, limits: ParseLimits) -> None:
    code = 0
    try:
        _die_with_parent()
        # Made before the parse: once the parse has used the memory up, reporting it must allocate nothing.
        out_of_memory = json.dumps({"failure": [DOCUMENT_TOO_COMPLEX, _out_of_memory(limits)]}).encode()
        _limit_resources(limits)
        try:
            message = _parse(ContentType(content_type), path, limits)
        except MemoryError:  # raised again while the parse's objects were still held; they are gone here
            message = out_of_memory
        with os.fdopen(write_end, "wb") as out:
            out.write(message)
    except BaseException:  # a child must never return into the parse server's loop
        code = 1
    os._exit(code)


def _parse(content_type: ContentType, path: str, limits: ParseLimits) -> bytes:
    try:
        document = parse_within_limits(content_type, Path(path).read_bytes(), limits)
        message = json.dumps({"document": _plain(document)}, ensure_ascii=False)
    except ParseFailure as failure:
        message = json.dumps({"failure": _failure(failure, limits)})
    except MemoryError:
        message = json.dumps({"failure": [DOCUMENT_TOO_COMPLEX, _out_of_memory(limits)]})
    return message.encode("utf-8", errors="replace")


def _die_with_parent() -> None:
    """Be killed when the parent process dies, so nothing outlives a killed server (Linux only)."""
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the line above
        os._exit(0)


def _limit_resources(limits: ParseLimits) -> None:
    memory = limits.max_memory_mb * _MIB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = math.ceil(limits.timeout_seconds) + _CPU_GRACE_SECONDS
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core the size of the limit


def _failure(failure: ParseFailure, limits: ParseLimits) -> list[str]:
    """A parser's failure, unless it was running out of memory, which the parsers report as damage
    (lxml says "unknown error" when an allocation fails, so the peak address space tells too)."""
    cause: BaseException | None = failure
    while cause is not None:
        if isinstance(cause, MemoryError):
            return [DOCUMENT_TOO_COMPLEX, _out_of_memory(limits)]
        cause = cause.__cause__ or cause.__context__
    if _peak_address_space() >= _NEAR_LIMIT * limits.max_memory_mb * _MIB:
        return [DOCUMENT_TOO_COMPLEX, _out_of_memory(limits)]
    return [failure.code, failure.message]


def _peak_address_space() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # no /proc (not Linux): the failure stands as the parser reported it
        pass
    return 0


def _out_of_memory(limits: ParseLimits) -> str:
    return f"Parsing the document needed more than the {limits.max_memory_mb} MB of memory a parse may use."


def _plain(document: ParsedDocument) -> dict[str, object]:
    return {
        "title": document.title,
        "sections": [[s.text, s.page, list(s.section_path)] for s in document.sections],
        "page_count": document.page_count,
        "warnings": list(document.warnings),
    }


def _warm_up() -> None:
    """Parse one small document of each format (once, when the parse server starts)."""
    page = b"<html><head><title>t</title></head><body><main><h1>h</h1><p>" + b"word " * 50 + b"</p></main>"
    samples = {
        ContentType.HTML: page,
        ContentType.MARKDOWN: b"# h\n\ntext\n",
        ContentType.TEXT: b"text\n",
        ContentType.DOCX: _tiny_docx(),
        ContentType.PDF: _tiny_pdf(),
    }
    for content_type, data in samples.items():
        parse_within_limits(content_type, data, ParseLimits())


def _tiny_docx() -> bytes:
    document = docx.Document()
    document.add_heading("h", level=1)
    document.add_paragraph("text")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _tiny_pdf() -> bytes:
    """One page of Helvetica text, so that text extraction (fonts, encodings) is warmed up too."""
    stream = b"BT /F1 12 Tf 72 720 Td (word) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


if __name__ == "__main__":
    _warm_up()
    # What is loaded now is never collected: a child's garbage collections then skip it, instead of
    # writing to (and so copying) every page of it.
    gc.freeze()
    serve(int(sys.argv[1]))
