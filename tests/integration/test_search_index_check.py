"""Index check and rebuild see the derived vector index too (the memory matrix on SQLite, the HNSW index on
PostgreSQL), and searches keep being answered while a rebuild runs."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from docent.container import Container
from docent.search.retrieve import SearchMode
from tests.conftest import Api
from tests.samples import sample_files

CHECK, REBUILD = "/api/v1/admin/index/check", "/api/v1/admin/index/rebuild"


def _container(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def _indexed(api: Api, admin: dict[str, str]) -> list[dict[str, Any]]:
    uploaded = api.upload(admin, sample_files(), visibility="org")
    return [api.wait_for(admin, d["id"]) for d in uploaded]


def _search_ids(client: TestClient, admin: dict[str, str], mode: str = "vector") -> list[int]:
    response = client.post("/api/v1/search", json={"query": "VPN client", "mode": mode}, headers=admin)
    assert response.status_code == 200, response.text
    return [r["chunk_id"] for r in response.json()["results"]]


def test_check_covers_the_vector_index_and_rebuild_repairs_it(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    _indexed(api, admin)
    _search_ids(client, admin)  # the server's matrix is built
    report = client.post(CHECK, headers=admin).json()
    assert report["ok"] is True, report
    sqlite = _container(client).settings.is_sqlite
    expected = (
        {"matrix_rows_missing", "matrix_rows_without_chunk", "matrix_rows_stale"}
        if sqlite
        else {"vector_index_missing", "vectors_of_another_dimension"}
    )
    assert expected <= set(report["problems"])

    engine = _container(client).database.engine
    with engine.begin() as connection:
        if sqlite:  # a vector changed behind the repository's back: the matrix no longer agrees
            connection.execute(text("UPDATE chunks SET embedding = zeroblob(length(embedding))"))
        else:
            connection.execute(text("DROP INDEX ix_chunks_embedding_hnsw"))
    broken = client.post(CHECK, headers=admin).json()
    assert broken["ok"] is False
    key = "matrix_rows_stale" if sqlite else "vector_index_missing"
    assert broken["problems"][key] >= 1, broken

    with engine.begin() as connection:
        if sqlite:
            connection.execute(text("UPDATE chunks SET embedding_model = 'local:older-model'"))
    rebuilt = client.post(REBUILD, headers=admin).json()
    assert rebuilt["ok"] is True, rebuilt
    assert client.post(CHECK, headers=admin).json()["ok"] is True
    assert _search_ids(client, admin)  # vectors re-made, search works again
    if not sqlite:
        with engine.connect() as connection:
            names = connection.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'"))
            assert "ix_chunks_embedding_hnsw" in set(names.scalars())


def test_rows_removed_by_a_cascade_never_come_back(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    documents = _indexed(api, admin)
    onboarding = next(d for d in documents if d["filename"] == "onboarding.pdf")
    assert _search_ids(client, admin)
    engine = _container(client).database.engine
    with engine.begin() as connection:  # bypasses the chunk repository and its generation counter
        connection.execute(text("DELETE FROM document_tags"))
        connection.execute(
            text("DELETE FROM chunks WHERE document_id = :id"),
            {
                "id": onboarding["id"].replace("-", "")
                if _container(client).settings.is_sqlite
                else onboarding["id"]
            },
        )
    for mode in ("vector", "hybrid", "keyword"):
        response = client.post(
            "/api/v1/search", json={"query": "VPN client", "mode": mode, "top_k": 50}, headers=admin
        )
        assert onboarding["id"] not in {r["document_id"] for r in response.json()["results"]}, mode


def test_searches_are_answered_while_the_index_is_rebuilt(
    api: Api, client: TestClient, admin: dict[str, str]
) -> None:
    _indexed(api, admin)
    container = _container(client)
    with container.database.unit_of_work() as uow:
        admin_principal = container.auth.local_principal(uow, "admin@example.com")
    done = threading.Event()
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            for _ in range(3):
                assert client.post(REBUILD, headers=admin).json()["ok"]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=rebuild)
    worker.start()
    answered = 0
    while not done.is_set() or answered == 0:
        with container.database.unit_of_work(write=False) as uow:
            scope = container.documents.scope(uow, admin_principal)
            for mode in SearchMode:
                response = container.retriever.search(uow, scope, "What is the VPN client called?", mode=mode)
                assert response.results and "Tunnelbear" in response.results[0].text, mode
        answered += 1
    worker.join()
    assert not errors, errors
    assert answered >= 1
