"""A `docent worker` process killed with SIGKILL mid-job: another worker finishes the job, without duplicates.

SQLite runs the embedded queue (a SQLite file); PostgreSQL runs the scaled profile (Redis queue).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docent.config import Settings
from docent.container import build_container
from docent.search.index_check import check_index
from tests.conftest import SECRET_KEY, TEST_HASHER, Api, make_settings, start_client

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def worker_settings(database_url: str, tmp_path: Path) -> Settings:
    scaled = database_url.startswith("postgresql")
    return make_settings(
        database_url,
        tmp_path,
        embedded_worker=False,
        redis_url=REDIS_URL if scaled else None,
        queue_name=f"docent-test-{uuid.uuid4().hex[:8]}",
        job_lease_seconds=3.0,
        job_sweep_seconds=0.5,
        embed_batch_size=2,
        ingest_batch_jobs=1,
    )


def _worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update(
        {
            "DOCENT_DATABASE_URL": settings.database_url,
            "DOCENT_DATA_DIR": str(settings.data_dir),
            "DOCENT_SECRET_KEY": SECRET_KEY,
            "DOCENT_QUEUE_NAME": settings.queue_name,
            "DOCENT_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
            "DOCENT_JOB_SWEEP_SECONDS": str(settings.job_sweep_seconds),
            "DOCENT_EMBED_BATCH_SIZE": str(settings.embed_batch_size),
            "DOCENT_INGEST_BATCH_JOBS": "1",
            "DOCENT_EMBED_THREADS": "1",
            "HF_HUB_OFFLINE": "1",
        }
    )
    if settings.redis_url:
        env["DOCENT_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture
def workers(worker_settings: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "docent", "worker"], env=_worker_env(settings), stdout=out, stderr=out
        )


def _poll(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting: {what}")


def _job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
    return job


def test_a_killed_worker_s_job_completes_elsewhere_without_duplicates(
    worker_settings: Settings, workers: list[subprocess.Popen[bytes]], tmp_path: Path, embedder: Any
) -> None:
    text = "\n\n".join(
        f"Section {i}. The maintenance schedule for machine {i} requires inspection every {i % 7 + 2} weeks, "
        f"a filter change every {i % 5 + 1} months and a full service each year by a certified technician."
        for i in range(160)
    )
    with start_client(worker_settings, embedder) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("manual.txt", text.encode(), "text/plain"))])
        job_id = document["job_id"]

        first = _start_worker(worker_settings, tmp_path / "worker-1.log")
        workers.append(first)
        _poll(lambda: _job(client, admin, job_id)["progress_done"] >= 4, 180, "the first worker to embed")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = _job(client, admin, job_id)
        assert killed["status"] == "processing" and killed["attempts"] == 1
        assert client.get(f"/api/v1/documents/{document['id']}/chunks", headers=admin).json()["total"] == 0

        second = _start_worker(worker_settings, tmp_path / "worker-2.log")
        workers.append(second)
        finished = _poll(
            lambda: (job := _job(client, admin, job_id))["status"] in ("completed", "failed") and job,
            240,
            "the second worker to finish the job",
        )
        assert finished["status"] == "completed", finished
        assert finished["attempts"] == 2
        done = api.wait_for(admin, document["id"])
        chunks = client.get(f"/api/v1/documents/{document['id']}/chunks?page_size=500", headers=admin).json()
        ordinals = [c["ordinal"] for c in chunks["items"]]
        assert chunks["total"] == done["chunk_count"] == len(ordinals)
        assert ordinals == list(range(len(ordinals)))

    container = build_container(worker_settings, embedder=embedder, hasher=TEST_HASHER)
    try:
        assert check_index(container.database, container.blobs).ok
    finally:
        container.close()
