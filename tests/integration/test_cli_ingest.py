"""`docent ingest` (files and folders as one batch), `docent index check` and `rebuild`, as real processes."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from docent.api.app import create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, make_settings
from tests.integration.test_cli import _env, _run
from tests.samples import make_pdf


def _folder(root: Path) -> Path:
    docs = root / "docs"
    (docs / "nested" / "deeper").mkdir(parents=True)
    (docs / "travel.txt").write_text("Economy class for flights under six hours.")
    (docs / "nested" / "expenses.md").write_text("# Expenses\n\nFile them within 30 days.\n")
    (docs / "nested" / "deeper" / "onboarding.pdf").write_bytes(make_pdf(["Laptops are issued on day one."]))
    (docs / "nested" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (docs / ".hidden.txt").write_text("never ingested")
    return docs


def test_ingest_a_folder_as_one_batch_then_check_the_index(tmp_path: Path) -> None:
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_EMBED_THREADS="1")
    assert _run("db", "upgrade", env=env).returncode == 0
    created = _run(
        "users", "create", "--email", ADMIN_EMAIL, "--role", "admin", "--password", ADMIN_PASSWORD, env=env
    )
    assert created.returncode == 0, created.stderr

    single = tmp_path / "single.txt"
    single.write_text("A file named directly on the command line.")
    ingested = _run("ingest", str(_folder(tmp_path)), str(single), "--tag", "Manuals", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert "4 accepted, 0 already present, 1 skipped" in ingested.stderr
    assert "photo.png" in ingested.stderr
    batch = re.search(r"batch ([0-9a-f]{32})", ingested.stderr)
    assert batch is not None

    again = _run("ingest", str(single), env=env)
    assert "0 accepted, 1 already present" in again.stderr

    checked = _run("index", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "index is consistent" in checked.stdout

    settings = make_settings(env["DOCENT_DATABASE_URL"], tmp_path, embedded_worker=False)
    with TestClient(create_app(settings)) as client:
        admin = Api(client).headers()
        jobs = client.get(f"/api/v1/jobs?batch={batch.group(1)}", headers=admin).json()
        assert jobs["total"] == 4 and {j["status"] for j in jobs["items"]} == {"completed"}
        documents = client.get("/api/v1/documents?tag=manuals", headers=admin).json()
        assert documents["total"] == 4
        assert {d["visibility"] for d in documents["items"]} == {"org"}

    rebuilt = _run("index", "rebuild", env=env)
    assert rebuilt.returncode == 0 and "index is consistent" in rebuilt.stdout, (
        rebuilt.stdout + rebuilt.stderr
    )


def test_ingest_refuses_an_unknown_owner(tmp_path: Path) -> None:
    env = _env(tmp_path, HF_HUB_OFFLINE="1")
    assert _run("db", "upgrade", env=env).returncode == 0
    (tmp_path / "a.txt").write_text("text")
    result = _run("ingest", str(tmp_path / "a.txt"), "--owner", "ghost@example.com", env=env)
    assert result.returncode == 2
    assert "ghost@example.com" in result.stderr
