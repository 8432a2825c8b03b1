"""The embedded profile's in-memory keyword index: Lucene's BM25 with the reader's organisation's statistics,
kept in step with the chunks and the permissions by the triggers' counters, and agreeing with FTS5."""

from __future__ import annotations

import math
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, text, update

from docent.container import Container, build_container
from docent.db.tables import Chunk, Document, DocumentVersion, Organization, User
from docent.search.backends import memory_bm25
from docent.search.backends.fts5 import Fts5KeywordIndex
from docent.search.backends.memory_bm25 import MemoryBm25Index
from docent.search.ports import BM25_B, BM25_K1
from docent.search.terms import analyze
from docent.types import ReaderScope, SearchFilters
from tests.conftest import TEST_HASHER, make_settings

ORG_A = [
    "The VPN client needs a hardware token to connect.",
    "Expense reports are due on the fifth working day of each month.",
    "Passwords are rotated every ninety days; the VPN password too.",
    "Parental leave is sixteen weeks, paid in full.",
]
ORG_B = ["VPN VPN VPN tokens tokens everywhere", "The VPN is down", "A VPN token per VPN client"]


@pytest.fixture
def container(sqlite_template: Path, tmp_path: Path, embedder: Any) -> Iterator[Container]:
    target = tmp_path / "docent.db"
    shutil.copy(sqlite_template, target)
    built = build_container(
        make_settings(f"sqlite:///{target}", tmp_path, embedded_worker=False),
        embedder=embedder,
        hasher=TEST_HASHER,
    )
    yield built
    built.close()


def add_org(container: Container, texts: list[str]) -> tuple[ReaderScope, list[uuid.UUID]]:
    """An organisation with one admin and one indexed document per text (rows written directly)."""
    org, user, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    documents = [uuid.uuid4() for _ in texts]
    with container.database.unit_of_work() as uow:
        session = uow.session
        session.execute(insert(Organization), [{"id": org, "name": "O", "slug": org.hex, "created_at": now}])
        session.execute(
            insert(User),
            [
                {
                    "id": user,
                    "org_id": org,
                    "email": f"{user.hex}@example.com",
                    "password_hash": "x",
                    "role": "admin",
                    "is_active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        for document_id, body in zip(documents, texts, strict=True):
            add_document(session, org, user, document_id, body, now)
        uow.commit()
    return ReaderScope(org, user, frozenset(), True), documents


def add_document(
    session: Any,
    org: uuid.UUID,
    user: uuid.UUID,
    document_id: uuid.UUID,
    body: str,
    now: datetime,
    *,
    visibility: str = "org",
    token_count: int = 10,
) -> int:
    """One indexed document of one chunk, owned by `user`; the chunk's id."""
    version = uuid.uuid4()
    session.execute(
        insert(Document),
        [
            {
                "id": document_id,
                "org_id": org,
                "owner_id": user,
                "title": body[:20],
                "visibility": visibility,
                "latest_version": 1,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    session.execute(
        insert(DocumentVersion),
        [
            {
                "id": version,
                "document_id": document_id,
                "number": 1,
                "filename": "a.txt",
                "content_type": "text/plain",
                "size_bytes": 1,
                "sha256": "0" * 64,
                "status": "completed",
                "created_at": now,
            }
        ],
    )
    chunk_id = session.execute(
        insert(Chunk).returning(Chunk.id),
        [
            {
                "version_id": version,
                "document_id": document_id,
                "org_id": org,
                "ordinal": 0,
                "text": body,
                "text_hash": uuid.uuid4().hex,
                "token_count": token_count,
                "page": None,
                "section_path": [],
                "embedding_model": "test",
                "embedding": np.ones(4, dtype=np.float32) / 2,
            }
        ],
    ).scalar_one()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text("INSERT INTO chunks_fts(rowid, text) VALUES (:id, :t)"), {"id": chunk_id, "t": body}
        )
    session.execute(update(Document).where(Document.id == document_id).values(indexed_version_id=version))
    return int(chunk_id)


def lucene_bm25(texts: list[str], query: str) -> list[float]:
    """BM25 as Lucene computes it, written out plainly: the reference the index must match."""
    documents = [Counter(analyze(body)) for body in texts]
    mean = sum(sum(d.values()) for d in documents) / len(documents)
    scores = []
    for counts in documents:
        length, score = sum(counts.values()), 0.0
        for term in dict.fromkeys(analyze(query)):
            df = sum(1 for d in documents if term in d)
            tf = counts.get(term, 0)
            if tf:
                idf = math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
                score += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * length / mean))
        scores.append(score)
    return scores


def search(container: Container, scope: ReaderScope, query: str, index: Any = None) -> dict[int, float]:
    keywords = index or container.retriever.keywords
    with container.database.unit_of_work(write=False) as uow:
        return {s.chunk_id: s.score for s in keywords.search(uow, scope, query, 100, SearchFilters())}


def chunk_ids(container: Container, documents: list[uuid.UUID]) -> list[int]:
    with container.database.engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT document_id, id FROM chunks")).all())
    return [rows[d.hex] for d in documents]


def test_scores_are_lucene_bm25_over_the_readers_organisation_only(container: Container) -> None:
    assert isinstance(container.retriever.keywords, MemoryBm25Index)
    scope_a, documents_a = add_org(container, ORG_A)
    query = "How do I connect the VPN client with a hardware token?"
    expected = dict(zip(chunk_ids(container, documents_a), lucene_bm25(ORG_A, query), strict=True))
    found = search(container, scope_a, query)
    assert found and set(found) == {cid for cid, score in expected.items() if score > 0}
    for cid, score in found.items():
        assert score == pytest.approx(expected[cid], rel=1e-5)

    add_org(container, ORG_B)  # another tenant full of the query's words changes nothing for org A
    assert search(container, scope_a, query) == pytest.approx(found, rel=1e-5)


def test_changes_reach_the_next_query_and_only_new_texts_are_analysed(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope, documents = add_org(container, ORG_A)
    ids = chunk_ids(container, documents)
    assert set(search(container, scope, "VPN")) == {ids[0], ids[2]}

    analysed: list[str] = []
    monkeypatch.setattr(memory_bm25, "analyze", lambda body: analysed.append(body) or analyze(body))
    with container.database.engine.begin() as connection:
        connection.execute(
            text("UPDATE documents SET deleted_at = CURRENT_TIMESTAMP WHERE id = :d"), {"d": documents[0].hex}
        )
    assert set(search(container, scope, "VPN")) == {ids[2]}  # a permission change: no chunk changed
    assert analysed == ["VPN"]  # only the query

    fresh = uuid.uuid4()
    with container.database.unit_of_work() as uow:
        add_document(uow.session, scope.org_id, scope.user_id, fresh, "A new VPN guide", datetime.now(UTC))
        uow.commit()
    assert set(search(container, scope, "VPN")) == {ids[2], chunk_ids(container, [fresh])[0]}
    assert sorted(analysed) == sorted(["VPN", "A new VPN guide", "VPN"])  # the new chunk, not the others

    with container.database.unit_of_work(write=False) as uow:
        assert container.retriever.keywords.check(uow) == {
            "keyword_rows_missing": 0,
            "keyword_rows_without_chunk": 0,
            "keyword_rows_stale": 0,
        }
    with container.database.engine.begin() as connection:  # behind the index's back, without triggers
        connection.execute(text("DROP TRIGGER trg_chunks_update_generation"))
        connection.execute(text("UPDATE chunks SET text_hash = 'changed' WHERE id = :i"), {"i": ids[1]})
    with container.database.unit_of_work(write=False) as uow:
        assert container.retriever.keywords.check(uow)["keyword_rows_stale"] == 1


def test_the_memory_index_and_fts5_agree_on_what_matches_and_what_ranks_first(
    container: Container,
) -> None:
    scope, _ = add_org(container, ORG_A + ORG_B)
    for query in ["VPN token", "expense report due", "rotating passwords", "parental leave weeks"]:
        memory = search(container, scope, query)
        fts5 = search(container, scope, query, Fts5KeywordIndex())
        assert set(memory) == set(fts5), query
        assert max(memory, key=memory.__getitem__) == max(fts5, key=fts5.__getitem__), query


def test_warming_derives_both_indexes_so_the_first_query_does_not(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope, _ = add_org(container, ORG_A)
    derived: list[str] = []
    for index in (container.retriever.vectors, container.retriever.keywords):
        original = index._refreshed  # type: ignore[attr-defined]
        name = type(index).__name__

        def counting(*args: Any, _original: Any = original, _name: str = name) -> Any:
            derived.append(_name)
            return _original(*args)

        monkeypatch.setattr(index, "_refreshed", counting)
    thread = container.warm_search()
    thread.join(timeout=60)
    assert sorted(derived) == ["MemoryBm25Index", "MemoryMatrixIndex"]
    assert search(container, scope, "VPN")
    assert len(derived) == 2  # the query found both ready
