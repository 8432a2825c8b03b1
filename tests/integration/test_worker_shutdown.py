"""SIGTERM to a `docent worker` whose parse is stuck on a hostile file: the parse process is killed, the
worker exits at once, and the job is queued again for later, not left `processing` (both databases)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from docent.config import Settings
from tests.conftest import Api, make_settings, start_client
from tests.hostile_files import CORPUS
from tests.integration.test_worker_kill import REDIS_URL, _job, _poll, _worker_env

# The worker's own parse limit is far away: only the shutdown can end this parse.
PARSE_TIMEOUT_SECONDS = 600
# huey waits this long for a busy worker thread before giving up on it; an exit well before it shows
# the worker did not wait for the parse.
HUEY_SHUTDOWN_TIMEOUT = 30


@pytest.fixture
def worker_settings(database_url: str, tmp_path: Path) -> Settings:
    scaled = database_url.startswith("postgresql")
    return make_settings(
        database_url,
        tmp_path,
        embedded_worker=False,
        redis_url=REDIS_URL if scaled else None,
        queue_name=f"docent-test-{uuid.uuid4().hex[:8]}",
        ingest_batch_jobs=1,
    )


@pytest.fixture
def worker(worker_settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = _worker_env(worker_settings) | {"DOCENT_PARSE_TIMEOUT_SECONDS": str(PARSE_TIMEOUT_SECONDS)}
    with (tmp_path / "worker.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "docent", "worker"], env=env, stdout=out, stderr=out
        )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _parse_child(worker: psutil.Process) -> psutil.Process | None:
    for server in worker.children():
        if "docent.ingest.parse_child" in " ".join(server.cmdline()):
            children = server.children()
            if children:
                return children[0]
    return None


def test_sigterm_kills_a_stuck_parse_and_the_job_runs_again_later(
    worker_settings: Settings, worker: subprocess.Popen[bytes], embedder: Any
) -> None:
    flood = next(h for h in CORPUS if h.name == "link-flood.md")
    with start_client(worker_settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", (flood.name, flood.make(), flood.content_type))])
        process = psutil.Process(worker.pid)
        child = _poll(lambda: _parse_child(process), 180, "the worker to start parsing")
        parse_server = child.parent()
        assert _job(client, admin, document["job_id"])["status"] == "processing"

        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(HUEY_SHUTDOWN_TIMEOUT - 5)  # raises if the worker waited for the parse
        elapsed = time.monotonic() - started
        print(f"\nSIGTERM to exit with a parse in flight: {elapsed:.1f} s")

        assert worker.returncode == 0
        assert not child.is_running()
        assert parse_server is not None
        _poll(lambda: not parse_server.is_running(), 10, "the parse server to end with the worker")
        job = _job(client, admin, document["job_id"])
        assert job["status"] == "queued", job
        assert job["error"] == "the worker stopped before the document was indexed"
        assert job["attempts"] == 1
