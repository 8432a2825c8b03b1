"""The hostile-file corpus against a real `docent serve` process (SQLite), its memory sampled throughout.

Every file of tests/hostile_files.py is uploaded by one member; each must end as its entry says (a 4xx at
upload, or `failed` with its code, or for a few odd-but-honest files `completed`), the server process and
its children must stay under MEMORY_CEILING_MB the whole time, and normal documents, one uploaded by
another member while the corpus is queued and one uploaded after it is done, must be indexed.

The table of outcomes, parse times (from the job's start of the parse, so the first parse of each worker
thread includes starting its parse server) and peak memory is printed (see it with `pytest -s`) and written to
the file named by DOCENT_HOSTILE_REPORT, when set.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, MEMBER_PASSWORD
from tests.hostile_files import CORPUS, LIMITS
from tests.serve_process import ServeProcess, docent_serve

# Measured: the server peaks near 1.1 GB embedding a long document (torch activations of full batches),
# ~1.4 GB when both worker threads embed at once; two parse servers (~80 MB each) and two parses of at
# most DOCENT_PARSE_MAX_MEMORY_MB (256 MB here) come on top. Without the sandbox one file of the corpus
# alone took the server from 1.0 to 6.5 GB (issue 11).
MEMORY_CEILING_MB = 2560  # 2,092-2,211 MB seen with the ONNX embedder's two sessions (1,496 with torch)
pytestmark = pytest.mark.slow


class MemorySampler:
    """The RSS of a process and all its descendants, sampled every 100 ms; the peak is kept."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak_mb = 0.0
        self.server_peak_mb = 0.0  # the server process alone
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current_mb(self) -> float:
        return self._current()[0]

    def _current(self) -> tuple[float, float]:
        server = self._process.memory_info().rss
        total = server
        for process in self._process.children(recursive=True):
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / (1024 * 1024), server / (1024 * 1024)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                total, server = self._current()
                self.peak_mb, self.server_peak_mb = max(self.peak_mb, total), max(self.server_peak_mb, server)
                self.samples += 1
            except psutil.NoSuchProcess:
                return


@pytest.fixture
def server(sqlite_template: Path, tmp_path: Path) -> Iterator[ServeProcess]:
    threads = {"DOCENT_WORKER_THREADS": "2", "DOCENT_INGEST_BATCH_JOBS": "4"}
    with docent_serve(sqlite_template, tmp_path, **threads, **LIMITS) as served:
        yield served


def _login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _member(client: httpx.Client, admin: dict[str, str], email: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/users", json={"email": email, "password": MEMBER_PASSWORD, "role": "member"}, headers=admin
    )
    assert response.status_code == 201, response.text
    return _login(client, email, MEMBER_PASSWORD)


def _upload(
    client: httpx.Client, headers: dict[str, str], name: str, data: bytes, kind: str
) -> httpx.Response:
    return client.post("/api/v1/documents", files=[("files", (name, data, kind))], headers=headers)


def _wait_all(client: httpx.Client, headers: dict[str, str], ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each document's final record, in the order they finished (the bound only stops a hang)."""
    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 600
    while len(finished) < len(ids) and time.monotonic() < deadline:
        for document_id in ids:
            if document_id in finished:
                continue
            document = client.get(f"/api/v1/documents/{document_id}", headers=headers).json()
            if document["status"] in ("completed", "failed"):
                finished[document_id] = document
        time.sleep(0.3)
    assert len(finished) == len(ids), f"{len(ids) - len(finished)} documents never finished"
    return finished


def _outcome(document: dict[str, Any]) -> str:
    if document["status"] == "completed":
        return "completed"
    version = document["versions"][-1]
    return str(version["error_code"])


def _parse_log(log: Path) -> dict[str, dict[str, Any]]:
    """`document_parse_finished` records of the server log, by stored file name (the SHA-256)."""
    records = {}
    for line in log.read_text(errors="replace").splitlines():
        if '"document_parse_finished"' in line:
            record = json.loads(line)
            records[record["file"]] = record
    return records


def test_hostile_files_fail_within_their_limits_and_the_server_stays_up(server: ServeProcess) -> None:
    made = [(hostile, hostile.make()) for hostile in CORPUS]
    assert len(made) >= 40
    normal = b"The canteen serves lunch from noon to two. Vegetarian dishes are marked green."
    with (
        httpx.Client(base_url=server.url, timeout=120) as client,
        MemorySampler(server.process.pid) as memory,
    ):
        admin = _login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
        attacker = _member(client, admin, "attacker@example.com")
        colleague = _member(client, admin, "colleague@example.com")
        # A long document first, so that the embedder's own peak (full batches of full chunks) is in the
        # baseline: what the corpus adds on top of it is what this test is about.
        (first,) = _upload(client, colleague, "handbook.txt", _handbook(), "text/plain").json()["documents"]
        assert _wait_all(client, colleague, [first["id"]])[first["id"]]["status"] == "completed"
        warm_mb = memory.peak_mb
        refused: dict[str, str] = {}
        accepted: dict[str, str] = {}  # document id -> file name
        for hostile, data in made:
            response = _upload(client, attacker, hostile.name, data, hostile.content_type)
            if response.status_code == 202:
                accepted[response.json()["documents"][0]["id"]] = hostile.name
            else:
                assert 400 <= response.status_code < 500, response.text
                assert response.json()["error"]["code"], response.text
                refused[hostile.name] = str(response.status_code)
        canteen = normal.replace(b"lunch", b"dinner")
        (meanwhile,) = _upload(client, colleague, "canteen.txt", canteen, "text/plain").json()["documents"]
        finished = _wait_all(client, attacker, list(accepted))
        assert _wait_all(client, colleague, [meanwhile["id"]])[meanwhile["id"]]["status"] == "completed"
        (after,) = _upload(
            client, admin, "after.txt", normal.replace(b"lunch", b"breakfast"), "text/plain"
        ).json()["documents"]
        assert _wait_all(client, admin, [after["id"]])[after["id"]]["status"] == "completed"
        found = client.post(
            "/api/v1/search", json={"query": "when is breakfast served"}, headers=admin
        ).json()
        assert any("breakfast" in result["text"] for result in found["results"]), found
    outcomes = refused | {accepted[i]: _outcome(d) for i, d in finished.items()}
    parses = _parse_log(server.log)
    rows = _report(made, outcomes, parses, warm_mb, memory)
    wrong = [row for row in rows if not row[-1]]
    assert not wrong, "\n".join(map(str, wrong))
    assert memory.peak_mb < MEMORY_CEILING_MB, f"peak {memory.peak_mb:.0f} MB"
    most = int(LIMITS["DOCENT_PARSE_MAX_MEMORY_MB"])
    assert all(parse["peak_memory_mb"] < most for parse in parses.values()), parses


def _handbook() -> bytes:
    """About 150 chunks of ordinary prose."""
    return "\n\n".join(
        f"Section {i}. Machine {i} is inspected every {i % 7 + 2} weeks; its filter is changed every "
        f"{i % 5 + 1} months, and a certified technician services it once a year, noting the hours run, "
        f"the parts replaced and the next date in the maintenance log kept in building {i % 4 + 1}."
        for i in range(400)
    ).encode()


def _report(
    made: list[Any], outcomes: dict[str, str], parses: dict[str, dict[str, Any]], warm_mb: float, memory: Any
) -> list[tuple[Any, ...]]:
    rows = []
    lines = [
        f"RSS of the server and its children: {warm_mb:.0f} MB at the peak of indexing a 150-chunk document, "
        f"{memory.peak_mb:.0f} MB at the peak ({memory.server_peak_mb:.0f} MB of it the server process); "
        f"{memory.samples} samples, ceiling {MEMORY_CEILING_MB} MB",
        "| file | what | size | outcome | expected | parse s | parse peak MB |",
        "| --- | --- | ---: | --- | --- | ---: | ---: |",
    ]
    for hostile, data in made:
        outcome = outcomes.get(hostile.name, "missing")
        parsed = not outcome.isdigit()  # refused at upload: never parsed (another entry may share its bytes)
        parse = parses.get(hashlib.sha256(data).hexdigest(), {}) if parsed else {}
        ok = outcome in hostile.expected
        rows.append((hostile.name, outcome, sorted(hostile.expected), ok))
        expected = "/".join(sorted(hostile.expected))
        seconds, peak = parse.get("seconds", ""), parse.get("peak_memory_mb", "")
        lines.append(
            f"| {hostile.name} | {hostile.what} | {len(data) / 1e6:.2f} MB | {outcome} | {expected} | "
            f"{seconds} | {peak} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    target = os.environ.get("DOCENT_HOSTILE_REPORT")
    if target:
        Path(target).write_text(table + "\n")
    return rows
