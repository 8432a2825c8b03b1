"""What recording who saw what costs `POST /search` and `POST /chat`, measured two ways in one run.

1. Inside the request: the time spent turning a route's results into records (`docent.api.shown`) and in
   `AccessRecorder.record` itself, taken with `perf_counter` around those very calls, for every request.
   This is the cost the recording adds to a request's own path, free of the noise of everything else.
2. Around the request, interleaved: one app, the recorder switched on and off request by request (in the
   order on, off, off, on, ... so drift hits both alike), the same questions asked of each. This also
   catches what the background writer costs the requests beside it (the GIL, SQLite's write lock), but is
   noisy on a busy machine: read it with the spread it prints.

The background writer's own time (`AccessRecorder.flush`) is summed and given per request too.

    nice -n 10 .venv/bin/python -u -m bench.access_log [--documents 200] [--repeats 150]

Documents are the first `--documents` SciFact abstracts (../shared/data/scifact), questions its queries.
The answer cache is off, so every chat retrieves and answers (with the extractive answerer: no LLM).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from docent.api import shown
from docent.api.app import create_app
from docent.auth.access import AccessRecorder
from docent.config import Settings
from docent.container import build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.records import AccessRecord

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
ADMIN = ("admin@example.com", "Adm1n-Passw0rd-Long!-bench")


def settings(tmp: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="production",
        database_url=f"sqlite:///{tmp}/docent.db",
        data_dir=tmp,
        secret_key="bench-secret-key-" + "k" * 40,
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        answer_cache=False,
        access_log_enabled=True,
        rate_limit_search="100000/minute",
        rate_limit_chat="100000/minute",
    )


def load(path: Path, limit: int) -> list[dict[str, Any]]:
    with path.open() as lines:
        return [json.loads(line) for _, line in zip(range(limit), lines, strict=False)]


def ingest(client: TestClient, headers: dict[str, str], documents: int) -> None:
    corpus = load(DATA / "corpus.jsonl", documents)
    for start in range(0, len(corpus), 50):
        files = [
            ("files", (f"{d['_id']}.txt", f"{d['title']}\n\n{d['text']}".encode(), "text/plain"))
            for d in corpus[start : start + 50]
        ]
        response = client.post("/api/v1/documents", files=files, data={"visibility": "org"}, headers=headers)
        assert response.status_code == 202, response.text
    while True:
        page = client.get("/api/v1/documents?status=completed&page_size=1", headers=headers).json()
        if page.get("total", 0) >= len(corpus):
            return
        time.sleep(0.5)


class Stopwatch:
    """Sums the time spent in wrapped calls until `take()` hands the sum over and starts again."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.flushed = 0.0  # the background writer's time, over the whole run

    def wrap(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - started

        return timed

    def wrap_flush(self, call: Callable[[], int]) -> Callable[[], int]:
        def timed() -> int:
            started = time.perf_counter()
            try:
                return call()
            finally:
                self.flushed += time.perf_counter() - started

        return timed

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent * 1000


def instrument(recorder: AccessRecorder) -> Stopwatch:
    """Time every call the routes make to record what they showed: the routes look these up at call time
    (`shown.search_results(...)`, `access.record(...)`), so wrapping them here wraps what they run."""
    watch = Stopwatch()
    shown.search_results = watch.wrap(shown.search_results)  # type: ignore[method-assign]
    shown.answer_passages = watch.wrap(shown.answer_passages)  # type: ignore[method-assign]
    recorder.record = watch.wrap(recorder.record)  # type: ignore[method-assign]
    recorder.flush = watch.wrap_flush(recorder.flush)  # type: ignore[method-assign]
    return watch


def percentiles(values: list[float]) -> str:
    p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
    return f"p50 {p50:.3f} ms, p95 {p95:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=150)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="docent-bench-access-"))
    engine = build_engine(f"sqlite:///{tmp}/docent.db")
    migrate.upgrade(engine)
    engine.dispose()
    container = build_container(settings(tmp))
    recorder = container.access
    watch = instrument(recorder)
    queries = [q["text"] for q in load(DATA / "queries.jsonl", args.repeats)]
    inside: dict[str, list[float]] = {"search": [], "chat": []}
    around: dict[tuple[str, bool], list[float]] = {}
    with TestClient(create_app(container.settings, container)) as client:
        login = {"username": ADMIN[0], "password": ADMIN[1]}
        token = client.post("/api/v1/auth/login", data=login).json()["access_token"]
        key = client.post(  # an API key: an access token could expire while the documents are indexed
            "/api/v1/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
        ).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        ingest(client, headers, args.documents)
        print(f"{args.documents} documents indexed; {len(queries)} questions", flush=True)
        routes = {
            "search": lambda q: ("/api/v1/search", {"query": q[:1000], "top_k": 10}),
            "chat": lambda q: ("/api/v1/chat", {"question": q[:2000]}),
        }
        for _warm in range(3):  # the first requests load what later ones reuse
            client.post("/api/v1/search", json={"query": queries[0]}, headers=headers)
        for n, query in enumerate(queries):
            order = (True, False) if n % 2 == 0 else (False, True)
            for route, body_of in routes.items():
                path, body = body_of(query)
                for enabled in order:
                    recorder.enabled = enabled
                    watch.take()
                    started = time.perf_counter()
                    response = client.post(path, json=body, headers=headers)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert response.status_code == 200, response.text
                    around.setdefault((route, enabled), []).append(elapsed)
                    spent = watch.take()
                    if enabled:
                        inside[route].append(spent)
        recorder.enabled = True
        recorder.flush()
        with container.database.unit_of_work(write=False) as uow:
            written = uow.session.scalar(select(func.count()).select_from(AccessRecord)) or 0
    report(inside, around, watch.flushed, written)


def report(
    inside: dict[str, list[float]], around: dict[tuple[str, bool], list[float]], flushed: float, written: int
) -> None:
    requests = sum(len(v) for v in inside.values())
    print(f"{written} records written from {requests} recorded requests")
    for route in ("search", "chat"):
        print(f"POST /{route}")
        print(f"  inside the request (shown + record): {percentiles(inside[route])}")
        on, off = around[(route, True)], around[(route, False)]
        pairs = [a - b for a, b in zip(on, off, strict=True)]
        print(f"  whole request, recording on:  {percentiles(on)}")
        print(f"  whole request, recording off: {percentiles(off)}")
        print(
            f"  on - off: p50 difference {np.percentile(on, 50) - np.percentile(off, 50):+.3f} ms; "
            f"paired differences p50 {np.percentile(pairs, 50):+.3f} ms "
            f"(interquartile {np.percentile(pairs, 25):+.2f} .. {np.percentile(pairs, 75):+.2f} ms)"
        )
    per_request = flushed * 1000 / max(1, requests)
    print(
        f"background writer: {flushed * 1000:.1f} ms in all, {per_request:.3f} ms per recorded request "
        f"({flushed * 1e6 / max(1, written):.1f} us per record), off the requests' path"
    )


if __name__ == "__main__":
    main()
