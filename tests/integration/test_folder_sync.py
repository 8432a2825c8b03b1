"""`docent sync`: a real folder on disk mirrored into Docent — new, changed, renamed and deleted files, a
file that changes while it is read, and a second run that changes nothing."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docent.api.app import prepare
from docent.auth.policy import Principal
from docent.config import Settings
from docent.container import Container, build_container
from docent.errors import DocentError
from docent.ingest.folder_sync import FolderSync, SyncReport
from docent.ingest.service import UploadOptions, Visibility
from tests.conftest import ADMIN_EMAIL
from tests.integration.test_cli import DOCENT, _env, _run


@pytest.fixture
def container(settings: Settings, embedder: Any) -> Iterator[Container]:
    with build_container(settings, embedder=embedder) as built:
        prepare(built)
        yield built


def _sync(container: Container, folder: Path) -> SyncReport:
    with container.database.unit_of_work(write=False) as uow:
        principal = container.auth.local_principal(uow, ADMIN_EMAIL)
    syncer = FolderSync(container.database, container.blobs, container.documents, 50 * 1024 * 1024)
    return syncer.run(principal, folder, UploadOptions(visibility=Visibility.ORG))


def _mirrored(container: Container, folder: Path) -> dict[str, tuple[str, int]]:
    """source file (relative) -> (document id, latest version) of the live synced documents."""
    with container.database.unit_of_work(write=False) as uow:
        admin: Principal = container.auth.local_principal(uow, ADMIN_EMAIL)
        prefix = folder.resolve().as_uri() + "/"
        documents = uow.documents.live_from_source(admin.org_id, admin.user_id, prefix)
        return {
            d.source_url.removeprefix(prefix): (str(d.id), d.latest_version)
            for d in documents
            if d.source_url
        }


def test_sync_mirrors_a_folder_and_a_second_run_changes_nothing(container: Container, tmp_path: Path) -> None:
    folder = tmp_path / "shared drive"  # a space and a `%`: the source URL is escaped
    (folder / "sub 100%").mkdir(parents=True)
    (folder / "handbook.txt").write_text("Expense reports are due within 30 days.")
    (folder / "notes.md").write_text("# Notes\n\nThe offsite is in Porto.")
    (folder / "sub 100%" / "vpn.txt").write_text("The VPN client is Tunnelbear Enterprise.")
    (folder / ".hidden.txt").write_text("never synced")
    (folder / "tool.bin").write_bytes(b"\x00\x01\x02\x7fELF" * 64)

    first = _sync(container, folder)
    assert sorted(Path(p).name for p in first.added) == ["handbook.txt", "notes.md", "vpn.txt"]
    assert [Path(p).name for p, _ in first.skipped] == ["tool.bin"]
    mirrored = _mirrored(container, folder)
    assert set(mirrored) == {"handbook.txt", "notes.md", "sub%20100%25/vpn.txt"}
    again = _sync(container, folder)
    assert not again.changed and again.unchanged == 3
    assert _mirrored(container, folder) == mirrored

    (folder / "handbook.txt").write_text("Expense reports are due within 45 days.")  # changed
    (folder / "notes.md").unlink()  # deleted
    (folder / "sub 100%" / "vpn.txt").rename(folder / "sub 100%" / "network.txt")  # renamed
    (folder / "new.txt").write_text("Badges are renewed every January.")  # new
    changes = _sync(container, folder)
    assert [Path(p).name for p in changes.updated] == ["handbook.txt"]
    assert [Path(p).name for p in changes.deleted] == ["notes.md"]
    assert [(Path(a).name, Path(b).name) for a, b in changes.renamed] == [("vpn.txt", "network.txt")]
    assert [Path(p).name for p in changes.added] == ["new.txt"]
    after = _mirrored(container, folder)
    assert after["handbook.txt"] == (mirrored["handbook.txt"][0], 2)  # the same document, a new version
    assert after["sub%20100%25/network.txt"] == mirrored["sub%20100%25/vpn.txt"]  # moved, not re-ingested
    assert "notes.md" not in after
    with container.database.unit_of_work(write=False) as uow:
        admin = container.auth.local_principal(uow, ADMIN_EMAIL)
        with pytest.raises(DocentError):  # soft-deleted: gone for readers
            container.documents.get(uow, admin, uuid.UUID(mirrored["notes.md"][0]))
        moved = container.documents.get(uow, admin, uuid.UUID(after["sub%20100%25/network.txt"][0]))
        assert "network" in moved.title
    final = _sync(container, folder)
    assert not final.changed and final.unchanged == 3
    assert _mirrored(container, folder) == after
    unmounted = tmp_path / "elsewhere"
    folder.rename(unmounted)
    folder.mkdir()
    with pytest.raises(DocentError, match="nothing was deleted"):
        _sync(container, folder)
    assert _mirrored(container, folder) == after


def test_a_file_changing_while_it_is_read_waits_for_the_next_run(
    container: Container, tmp_path: Path
) -> None:
    folder = tmp_path / "live"
    folder.mkdir()
    (folder / "steady.txt").write_text("The cafeteria serves lasagna on Fridays.")
    growing = folder / "log.txt"
    growing.write_text("line of the log\n" * 200_000)  # ~3 MB: reading it takes a while
    stop = threading.Event()

    def keep_writing() -> None:
        with growing.open("a") as log:
            while not stop.is_set():
                log.write("another line\n")
                log.flush()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        during = _sync(container, folder)
    finally:
        stop.set()
        writer.join()
    assert [Path(p).name for p in during.added] == ["steady.txt"]
    assert [(Path(p).name, reason) for p, reason in during.skipped] == [
        ("log.txt", "changed while it was read: next run")
    ]
    settled = _sync(container, folder)
    assert [Path(p).name for p in settled.added] == ["log.txt"] and settled.unchanged == 1
    assert not _sync(container, folder).changed


def test_docent_sync_watch_keeps_the_folder_in_step(tmp_path: Path) -> None:
    """The command as a process: one sync at start, then one after each change, until interrupted."""
    env = _env(tmp_path, HF_HUB_OFFLINE="1")
    assert _run("db", "upgrade", env=env).returncode == 0
    created = _run(
        "users", "create", "--email", ADMIN_EMAIL, "--role", "admin", "--password", "A" * 16, env=env
    )
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "first.txt").write_text("The first note says hello.")
    once = _run("sync", str(folder), env=env)
    assert once.returncode == 0, once.stderr
    assert once.stdout.startswith("sync: 1 added, 0 updated, 0 renamed, 0 deleted, 0 unchanged")
    bad = _run("sync", str(folder / "first.txt"), env=env)
    assert bad.returncode == 2 and "not a folder" in bad.stderr

    with subprocess.Popen(
        [*DOCENT, "sync", str(folder), "--watch"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as watcher:  # fmt: skip
        assert watcher.stdout is not None and watcher.stderr is not None
        try:
            first = watcher.stdout.readline()
            assert first.startswith("sync: 0 added, 0 updated, 0 renamed, 0 deleted, 1 unchanged")
            assert watcher.stderr.readline().startswith("watching ")
            (folder / "second.txt").write_text("The second note arrives while watching.")
            assert watcher.stdout.readline().startswith("sync: 1 added")
            assert watcher.stdout.readline().strip().endswith("second.txt")
            (folder / "first.txt").write_text("The first note, edited.")
            assert watcher.stdout.readline().startswith("sync: 0 added, 1 updated")
        finally:
            watcher.send_signal(signal.SIGINT)
            watcher.wait(timeout=60)
        assert watcher.returncode == 0, watcher.stderr.read()
