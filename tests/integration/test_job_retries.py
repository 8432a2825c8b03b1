"""Transient failures are retried with backoff; a job that keeps failing ends `failed` with the error.

The embedder here is the OpenAI-compatible adapter talking to a real HTTP server on localhost that
answers 503 a set number of times (the one stand-in the rules allow: a remote model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, make_settings, start_client
from tests.http_servers import serving

DIMENSION = 8


class _EmbeddingsServer(ThreadingHTTPServer):
    failures_left = 0
    calls = 0


class _Handler(BaseHTTPRequestHandler):
    server: _EmbeddingsServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls += 1
        if self.server.failures_left > 0:
            self.server.failures_left -= 1
            self._reply(503, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [float(len(t) % 7 + 1)] + [0.5] * (DIMENSION - 1),
            }
            for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        self._reply(200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def remote() -> Iterator[_EmbeddingsServer]:
    with serving(_EmbeddingsServer(("127.0.0.1", 0), _Handler)) as server:
        yield server


def _settings(database_url: str, tmp_path: Path, server: _EmbeddingsServer, attempts: int) -> Any:
    return make_settings(
        database_url,
        tmp_path,
        embedder="openai:fake-embedder",
        embedder_base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
        embedder_api_key="sk-test-not-a-real-key",
        embedder_dimension=DIMENSION,
        job_max_attempts=attempts,
        job_backoff_base_seconds=0.1,
    )


def test_a_transient_failure_is_retried_until_it_succeeds(
    remote: _EmbeddingsServer, database_url: str, tmp_path: Path
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
    remote: _EmbeddingsServer, database_url: str, tmp_path: Path
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
        assert remote.calls == 3
