"""Jobs are claimed in turns across the users who queued them: one user's many uploads do not starve
another user's one (both databases)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, make_settings, start_client


def _text(owner: str, number: int) -> tuple[str, tuple[str, bytes, str]]:
    body = f"{owner} wrote note {number}: the delivery for order {number} arrives on day {number % 28 + 1}."
    return ("files", (f"{owner}-{number}.txt", body.encode(), "text/plain"))


def _queue(api: Api, headers: dict[str, str], owner: str, count: int) -> list[str]:
    documents = api.upload(headers, [_text(owner, n) for n in range(count)])
    return [str(document["job_id"]) for document in documents]


def _members(api: Api, *names: str) -> list[dict[str, str]]:
    admin = api.headers()
    headers = []
    for name in names:
        api.create_user(admin, f"{name}@example.com")
        headers.append(api.headers(f"{name}@example.com"))
    return headers


def _container(client: TestClient) -> Any:
    return client.app.state.container  # type: ignore[attr-defined]


def test_claimable_jobs_come_in_turns_across_users(database_url: str, tmp_path: Path, embedder: Any) -> None:
    settings = make_settings(database_url, tmp_path, embedded_worker=False)
    with start_client(settings, embedder) as client:
        api = Api(client)
        ann, bob, cid = _members(api, "ann", "bob", "cid")
        owner = dict.fromkeys(_queue(api, ann, "ann", 5), "ann")
        owner |= dict.fromkeys(_queue(api, bob, "bob", 2), "bob")
        owner |= dict.fromkeys(_queue(api, cid, "cid", 1), "cid")
        now = datetime.now(UTC) + timedelta(seconds=1)
        with _container(client).database.unit_of_work(write=False) as uow:
            order = uow.jobs.claimable_ids(now, now - timedelta(seconds=60), "ingest", 100)
    # Turn 1: each user's oldest, fewest waiting first; turn 2: Bob's and Ann's second; then Ann's rest.
    assert [owner[str(job)] for job in order] == ["cid", "bob", "ann", "bob", "ann", "ann", "ann", "ann"]


@pytest.mark.parametrize("batch", [1, 3])
def test_one_user_s_many_uploads_do_not_starve_another_s_one(
    database_url: str, tmp_path: Path, embedder: Any, batch: int
) -> None:
    """Ann queues ten documents, then Bob one; the worker, started then, takes `batch` jobs a claim and
    finishes Bob's in its first batch. Before, jobs were taken in the order they were queued (the
    message's own job first), and Bob's came last."""
    settings = make_settings(database_url, tmp_path, embedded_worker=False, ingest_batch_jobs=batch)
    with start_client(settings, embedder) as client:
        api = Api(client)
        ann, bob = _members(api, "ann", "bob")
        ann_jobs = _queue(api, ann, "ann", 10)
        (bob_job,) = _queue(api, bob, "bob", 1)
        _container(client).start_worker()
        finished = {job: _finished(client, ann, job) for job in ann_jobs}
        finished[bob_job] = _finished(client, bob, bob_job)
    order = sorted(finished, key=lambda job: finished[job])
    assert order.index(bob_job) < batch, [("bob" if job == bob_job else "ann") for job in order]


def _finished(client: TestClient, headers: dict[str, str], job_id: str) -> datetime:
    """When the job finished (polled; the bound only stops a hang)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] == "completed":
            return datetime.fromisoformat(job["finished_at"])
        assert job["status"] != "failed", job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")
