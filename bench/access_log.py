"""What recording who saw what costs `POST /search` and `POST /chat`: two apps over one SQLite database, the
access record on in one and off in the other, asked the same questions in turn (on, off, off, on, ...), so
drift and noise hit both alike. The answer cache is off, so every chat retrieves and answers.

    nice -n 10 .venv/bin/python -m bench.access_log [--documents 200] [--repeats 150]

Documents are the first `--documents` SciFact abstracts (../shared/data/scifact), questions its queries.
Prints p50 and p95 (ms) per route for on and off, the p50 difference, and how many records were written.
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

from docent.api.app import create_app
from docent.config import Settings
from docent.container import build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.records import AccessRecord

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
ADMIN = ("admin@example.com", "Adm1n-Passw0rd-Long!-bench")


def settings(tmp: Path, *, enabled: bool) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="production",
        database_url=f"sqlite:///{tmp}/docent.db",
        data_dir=tmp,
        secret_key="bench-secret-key-" + "k" * 40,
        admin_email=ADMIN[0],
        admin_password=ADMIN[1],
        answer_cache=False,
        access_log_enabled=enabled,
        embedded_worker=enabled,  # one worker ingests
        queue_name="docent" if enabled else "docent-bench-off",  # the other app never holds its jobs
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


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=150)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="docent-bench-access-"))
    engine = build_engine(f"sqlite:///{tmp}/docent.db")
    migrate.upgrade(engine)
    engine.dispose()
    on_container = build_container(settings(tmp, enabled=True))
    off_container = build_container(settings(tmp, enabled=False), embedder=on_container.embedder)
    queries = [q["text"] for q in load(DATA / "queries.jsonl", args.repeats)]
    times: dict[tuple[str, str], list[float]] = {}
    with (
        TestClient(create_app(on_container.settings, on_container)) as on,
        TestClient(create_app(off_container.settings, off_container)) as off,
    ):
        login = {"username": ADMIN[0], "password": ADMIN[1]}
        token = on.post("/api/v1/auth/login", data=login).json()["access_token"]
        key = on.post(  # an API key: an access token could expire while the documents are indexed
            "/api/v1/api-keys", json={"name": "bench"}, headers={"Authorization": f"Bearer {token}"}
        ).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        ingest(on, headers, args.documents)
        clients = {"on": on, "off": off}
        for n, query in enumerate(queries):
            order = ("on", "off") if n % 2 == 0 else ("off", "on")
            for name in order:
                client = clients[name]
                search = {"query": query[:1000], "top_k": 10}
                times.setdefault(("search", name), []).append(
                    timed(lambda c=client, b=search: c.post("/api/v1/search", json=b, headers=headers))
                )
                chat = {"question": query[:2000]}
                times.setdefault(("chat", name), []).append(
                    timed(lambda c=client, b=chat: c.post("/api/v1/chat", json=b, headers=headers))
                )
        on_container.access.flush()
        with on_container.database.unit_of_work(write=False) as uow:
            written = uow.session.scalar(select(func.count()).select_from(AccessRecord))
    print(f"{args.documents} documents, {len(queries)} questions per route and setting; {written} records")
    for route in ("search", "chat"):
        p50 = {name: float(np.percentile(times[(route, name)], 50)) for name in ("on", "off")}
        p95 = {name: float(np.percentile(times[(route, name)], 95)) for name in ("on", "off")}
        print(
            f"POST /{route}: p50 on {p50['on']:.2f} ms, off {p50['off']:.2f} ms "
            f"(difference {p50['on'] - p50['off']:+.2f} ms); p95 on {p95['on']:.2f}, off {p95['off']:.2f}"
        )


if __name__ == "__main__":
    main()
