"""Transient failures are retried with backoff; a job that keeps failing ends `failed` with the error.

The embedder here is the OpenAI-compatible adapter talking to a real HTTP server on localhost that
answers 503 a set number of times (the one stand-in the rules allow: a remote model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, make_settings, start_client
from tests.fakes import FakeEmbeddings, serve_embeddings

DIMENSION = 8


@pytest.fixture
def remote() -> Iterator[FakeEmbeddings]:
    with serve_embeddings(FakeEmbeddings(dimension=DIMENSION)) as fake:
        yield fake


def _settings(database_url: str, tmp_path: Path, server: FakeEmbeddings, attempts: int) -> Any:
    return make_settings(
        database_url,
        tmp_path,
        embedder="openai:fake-embedder",
        embedder_base_url=server.url(),
        embedder_api_key="sk-test-not-a-real-key",
        embedder_dimension=DIMENSION,
        job_max_attempts=attempts,
        job_backoff_base_seconds=0.1,
    )


def test_a_transient_failure_is_retried_until_it_succeeds(
    remote: FakeEmbeddings, database_url: str, tmp_path: Path
) -> None:
    remote.failures_left = 2
    settings = _settings(database_url, tmp_path, remote, attempts=5)
    with start_client(settings, None) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("a.txt", b"Retry me until it works.", "text/plain"))])
        done = api.wait_for(admin, document["id"])
        assert done["status"] == "completed", done
        job = client.get(f"/api/v1/jobs/{document['job_id']}", headers=admin).json()
        assert job["status"] == "completed" and job["attempts"] == 3 and job["error"] is None


def test_a_job_that_keeps_failing_ends_failed_with_the_error(
    remote: FakeEmbeddings, database_url: str, tmp_path: Path
) -> None:
    remote.failures_left = 1_000
    settings = _settings(database_url, tmp_path, remote, attempts=3)
    with start_client(settings, None) as client:
        api = Api(client)
        admin = api.headers()
        (document,) = api.upload(admin, [("files", ("b.txt", b"This will never embed.", "text/plain"))])
        done = api.wait_for(admin, document["id"])
        assert done["status"] == "failed"
        assert "embedder unavailable" in done["error"] and "sk-test" not in done["error"]
        job = client.get(f"/api/v1/jobs/{document['job_id']}", headers=admin).json()
        assert job["status"] == "failed" and job["attempts"] == 3
        assert len(remote.requests) == 3
