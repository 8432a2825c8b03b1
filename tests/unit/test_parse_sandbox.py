"""The parse sandbox: real parse processes, their limits, and what crosses back."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

from docent.ingest.limits import ParseLimits, parse_within_limits
from docent.ingest.sandbox import ParseInterrupted, ParseSandbox, _document
from docent.ingest.types import ContentType, ParseFailure
from tests.hostile_files import CORPUS
from tests.samples import make_docx, make_pdf

_HOSTILE = {hostile.name: hostile for hostile in CORPUS}


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _failure(sandbox: ParseSandbox, content_type: ContentType, path: Path) -> ParseFailure:
    with pytest.raises(ParseFailure) as caught:
        sandbox.parse(content_type, path)
    return caught.value


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (ContentType.PDF, make_pdf(["Expense reports are due in 30 days.", "Receipts are kept."])),
        (ContentType.DOCX, make_docx([("h1", "Leave"), ("", "Sixteen weeks of paid leave.")])),
        (ContentType.HTML, b"<html><title>Policy</title><main><h1>VPN</h1><p>Use the VPN abroad.</p></main>"),
        (ContentType.MARKDOWN, b"# Handbook\n\n## Laptops\n\nReplaced every four years.\n"),
        (ContentType.TEXT, "Caf\u00e9 opens at eight.\n".encode()),
    ],
    ids=["pdf", "docx", "html", "markdown", "text"],
)
def test_a_sandboxed_parse_gives_what_an_in_process_parse_gives(
    tmp_path: Path, content_type: ContentType, data: bytes
) -> None:
    limits = ParseLimits()
    assert ParseSandbox(limits).parse(content_type, _file(tmp_path, "doc", data)) == parse_within_limits(
        content_type, data, limits
    )


def test_a_parse_past_its_time_is_killed_and_the_next_one_runs(tmp_path: Path) -> None:
    sandbox = ParseSandbox(ParseLimits(timeout_seconds=1))
    flood = _file(tmp_path, "flood.md", _HOSTILE["bold-flood.md"].make())
    failure = _failure(sandbox, ContentType.MARKDOWN, flood)
    assert failure.code == "parse_timeout"
    assert failure.message == "Parsing the document took longer than 1 seconds and was stopped."
    assert sandbox.parse(ContentType.TEXT, _file(tmp_path, "ok.txt", b"Still parsing.")).sections


def test_a_parse_past_its_memory_is_stopped(tmp_path: Path) -> None:
    sandbox = ParseSandbox(ParseLimits(max_memory_mb=256, max_unpacked_mb=128))
    big = _file(tmp_path, "big.docx", _HOSTILE["1.2m-paragraphs.docx"].make())
    failure = _failure(sandbox, ContentType.DOCX, big)
    assert failure.code == "document_too_complex"
    assert "256 MB of memory" in failure.message


def test_running_out_of_memory_while_reporting_it_is_still_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse that used the memory up can fail again while its failure is written (its objects are still
    held then): the parse process must still say "too complex", not die with an unexplained exit status."""
    import json
    import os

    from docent.ingest import parse_child

    def out_of_memory_twice(*_args: object) -> bytes:
        try:
            raise MemoryError
        except MemoryError:
            raise MemoryError from None

    monkeypatch.setattr(parse_child, "_parse", out_of_memory_twice)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the parse server forks its children so
        os.close(read_end)
        parse_child._child(write_end, ContentType.TEXT.value, str(tmp_path / "any.txt"), ParseLimits())
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        sent = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    code, message = json.loads(sent)["failure"]
    assert code == "document_too_complex"
    assert "1024 MB of memory" in message


def test_a_parse_process_that_aborted_ran_out_of_memory() -> None:
    """Past its address-space limit the interpreter can abort (SIGABRT) instead of raising MemoryError, as
    `40k-pages.pdf` did on a quiet machine; any other death stays an unexpected parse error."""
    import signal

    sandbox = ParseSandbox(ParseLimits(max_memory_mb=256))
    aborted = sandbox._no_answer({"exit": -signal.SIGABRT, "stopped": None}, Path("pages.pdf"))
    assert isinstance(aborted, ParseFailure)
    assert (aborted.code, "256 MB of memory" in aborted.message) == ("document_too_complex", True)
    crashed = sandbox._no_answer({"exit": -signal.SIGSEGV, "stopped": None}, Path("pages.pdf"))
    assert isinstance(crashed, ParseFailure)
    assert crashed.code == "parse_error"


def test_a_parse_process_that_died_with_its_memory_used_up_ran_out_of_memory() -> None:
    """However the interpreter dies once its memory is used up (`40k-pages.pdf` once ended as parse_error
    under CI's load, at the 217.6 MB peak of its out-of-memory runs), a death at the limit is the limit."""
    import signal

    sandbox = ParseSandbox(ParseLimits(max_memory_mb=256))
    for code in (1, -signal.SIGSEGV):
        status = {"exit": code, "stopped": None, "peak_rss_kb": 217 * 1024}
        used_up = sandbox._no_answer(status, Path("pages.pdf"))
        assert isinstance(used_up, ParseFailure)
        assert (used_up.code, "256 MB of memory" in used_up.message) == ("document_too_complex", True)
        small = sandbox._no_answer({**status, "peak_rss_kb": 52 * 1024}, Path("pages.pdf"))
        assert isinstance(small, ParseFailure)
        assert small.code == "parse_error"


def test_an_archive_bomb_is_refused_in_the_parse_process(tmp_path: Path) -> None:
    sandbox = ParseSandbox(ParseLimits())
    bomb = _file(tmp_path, "bomb.docx", _HOSTILE["paragraph-bomb.docx"].make())
    failure = _failure(sandbox, ContentType.DOCX, bomb)
    assert failure.code == "archive_bomb"
    assert "a ratio of 339:1" in failure.message


def test_interrupt_kills_the_parse_in_flight_and_refuses_new_ones(tmp_path: Path) -> None:
    sandbox = ParseSandbox(ParseLimits(timeout_seconds=300))
    flood = _file(tmp_path, "flood.md", _HOSTILE["link-flood.md"].make())
    sandbox.parse(ContentType.TEXT, _file(tmp_path, "warm.txt", b"A parse server is up."))
    outcome: list[BaseException] = []

    def parse() -> None:
        try:
            sandbox.parse(ContentType.MARKDOWN, flood)
        except BaseException as exc:  # the test inspects whatever it was
            outcome.append(exc)

    thread = threading.Thread(target=parse)
    thread.start()
    child = _wait_for_parse_child()
    sandbox.interrupt()
    thread.join(30)  # the parse would take hours; this only stops a hang
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ParseInterrupted)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    with pytest.raises(ParseInterrupted):
        sandbox.parse(ContentType.TEXT, _file(tmp_path, "late.txt", b"Too late."))


def _wait_for_parse_child() -> psutil.Process:
    """The forked child of one of this process's parse servers, once it exists."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for server in psutil.Process().children():
            if "docent.ingest.parse_child" in " ".join(server.cmdline()):
                children = server.children()
                if children:
                    return children[0]
        time.sleep(0.05)
    raise AssertionError("no parse child appeared")


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"failure": ["code"]},
        {"failure": [1, "message"]},
        {"document": {"sections": "text"}},
        {"document": {"title": 5, "sections": []}},
        {"document": {"title": None, "sections": [["text", "page one", []]]}},
        {"document": {"title": None, "sections": [["text", None, [None]]]}},
        {"document": {"title": None, "sections": [["text", True, []]]}},
    ],
)
def test_what_a_parse_process_sends_is_checked_shape_by_shape(payload: object) -> None:
    with pytest.raises(ParseFailure) as caught:
        _document(payload)
    assert caught.value.code == "parse_error"
