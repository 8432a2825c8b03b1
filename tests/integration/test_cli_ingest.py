"""`docent ingest` (files and folders as one batch), `docent index check` and `rebuild`, as real processes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, make_settings, start_client
from tests.integration.test_cli import _env, _run, _run_in_terminal
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


def test_ingest_a_folder_as_one_batch_then_check_the_index(tmp_path: Path, embedder: Any) -> None:
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
    assert "4 indexed" in ingested.stdout and "skipped" in ingested.stdout and "photo.png" in ingested.stdout
    batch = re.search(r"batch ([0-9a-f]{32})", ingested.stderr)
    assert batch is not None

    again = _run("ingest", str(single), env=env)
    assert "0 accepted, 1 already present" in again.stderr

    checked = _run("index", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "index is consistent" in checked.stdout

    settings = make_settings(env["DOCENT_DATABASE_URL"], tmp_path, embedded_worker=False)
    with start_client(settings, embedder) as client:
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


def _with_admin(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = _env(tmp_path, HF_HUB_OFFLINE="1", DOCENT_EMBED_THREADS="1", **extra)
    assert _run("db", "upgrade", env=env).returncode == 0
    created = _run("users", "create", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD, env=env)
    assert created.returncode == 0, created.stderr
    return env


def test_ingest_ends_with_a_summary_and_keeps_logs_off_the_terminal(tmp_path: Path) -> None:
    env = _with_admin(tmp_path)
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "travel.txt").write_text("Economy class for flights under six hours.")
    (docs / "copy-of-travel.txt").write_text("Economy class for flights under six hours.")
    (docs / "expenses.md").write_text("# Expenses\n\nFile them within 30 days.\n")
    (docs / "onboarding.pdf").write_bytes(make_pdf(["Laptops are issued on day one."]))
    (docs / "empty.txt").write_bytes(b"")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog" * 20)
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)

    result = _run("ingest", str(docs), env=env)
    assert result.returncode == 1, result.stdout + result.stderr  # a document failed
    summary = re.fullmatch(
        r"3 indexed \((\d+) chunks\), 1 already present, 2 skipped, 1 failed, in \d+\.\d s",
        result.stdout.splitlines()[0],
    )
    assert summary and int(summary.group(1)) >= 3, result.stdout
    details = result.stdout.splitlines()[1:]
    assert len(details) == 3, result.stdout
    assert any(f"skipped {docs / 'empty.txt'}: " in line and "empty" in line for line in details), details
    assert any(f"skipped {docs / 'photo.png'}: " in line for line in details), details
    assert any(f"failed  {docs / 'broken.pdf'}: " in line and "damaged" in line for line in details), details

    assert "Traceback" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.lstrip().startswith("{")], result.stderr
    log = (tmp_path / "logs" / "docent-cli.log").read_text()
    assert '"event": "document_indexed"' in log and '"event": "job_failed"' in log


def test_the_progress_bar_moves_with_each_chunk_embedded(tmp_path: Path) -> None:
    env = _with_admin(tmp_path, DOCENT_EMBED_BATCH_SIZE="1")
    handbook = tmp_path / "handbook.md"
    sections = [
        f"## Policy {n}\n\n"
        + " ".join(f"Rule {n}.{m} covers travel, expenses and equipment." for m in range(40))
        for n in range(12)
    ]
    handbook.write_text("# Handbook\n\n" + "\n\n".join(sections))

    code, shown = _run_in_terminal("ingest", str(handbook), env=env)
    assert code == 0, shown
    frames = [(int(done), int(total)) for done, total in re.findall(r"(\d+)/~?(\d+) chunks", shown)]
    assert frames, shown
    total = frames[-1][1]
    assert total >= 10 and frames[-1] == (total, total), frames
    assert any(0 < done < total for done, _ in frames), frames  # it moved before the document was done
    assert "1/1 documents" in shown
    assert "1 indexed" in shown and '"event"' not in shown
