"""`docent sync DIR`: a folder mirrored into Docent, as one user's documents.

A synced document remembers its file as its source URL (`file:///abs/path`). Each run compares the folder
with the documents under that prefix: a new file is ingested, a file whose content changed becomes a new
version, a file gone is soft-deleted, and a file that reappears elsewhere with the content of one that went
is a rename (the document moves, keeping its versions). Content decides, never timestamps, so running it
twice changes nothing. A file that changes while it is read is left for the next run.

Files are read and staged before the one short write transaction, so SQLite's write lock is never held
while a disk is read; new files go in one batch, which `/jobs` shows.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docent.auth.audit import CLI_CONTEXT, record
from docent.auth.policy import Principal
from docent.db.tables import Document
from docent.db.uow import Database, UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.bulk import collect_files
from docent.ingest.service import DocumentService, IncomingFile, UploadOptions, display_name
from docent.storage.blobs import BlobStore, BlobTooLargeError, StagedFile

MAX_FILES = 10_000  # one run's bound; a larger tree is synced as several folders
_READ_BLOCK = 1 << 20


@dataclass
class SyncReport:
    batch_id: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (from, to)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.renamed or self.deleted)


@dataclass(frozen=True)
class _Known:
    document_id: uuid.UUID
    sha256: str


class FolderSync:
    def __init__(
        self, database: Database, blobs: BlobStore, documents: DocumentService, max_bytes: int
    ) -> None:
        self._database = database
        self._blobs = blobs
        self._documents = documents
        self._max_bytes = max_bytes

    def run(self, principal: Principal, folder: Path, options: UploadOptions) -> SyncReport:
        folder = folder.resolve()
        if not folder.is_dir():
            raise DocentError(ErrorCode.BAD_REQUEST, f"{folder} is not a folder.")
        prefix = folder.as_uri() + "/"
        report = SyncReport(batch_id=options.batch_id or uuid.uuid4().hex)
        files = {path.resolve().as_uri(): path for path in collect_files([folder])}
        if len(files) > MAX_FILES:
            raise DocentError(ErrorCode.BAD_REQUEST, f"More than {MAX_FILES} files: sync smaller folders.")
        with self._database.unit_of_work(write=False) as uow:
            known = {
                d.source_url: _Known(d.id, uow.documents.latest_version(d).sha256)
                for d in uow.documents.live_from_source(principal.org_id, principal.user_id, prefix)
                if d.source_url
            }
        if known and not files:  # an unmounted drive looks like this: never take it for "delete everything"
            raise DocentError(
                ErrorCode.BAD_REQUEST, f"{folder} is empty now: nothing was deleted (is it mounted?)."
            )
        staged = self._stage_changes(files, known, report)
        try:
            with self._database.unit_of_work() as uow:
                self._apply(uow, principal, staged, known, files, options, report)
                uow.commit()
        except BaseException:
            for file in staged.values():
                self._blobs.discard(file.staged)
            raise
        return report

    def _stage_changes(
        self, files: dict[str, Path], known: dict[str, _Known], report: SyncReport
    ) -> dict[str, IncomingFile]:
        """The files that are new or changed, staged; unchanged ones only counted."""
        staged: dict[str, IncomingFile] = {}
        for url, path in files.items():
            try:
                digest = _stable_sha256(path)
                if url in known and known[url].sha256 == digest:
                    report.unchanged += 1
                    continue
                incoming = self._stage(path)
            except _ChangedWhileReadError:
                report.skipped.append((str(path), "changed while it was read: next run"))
                continue
            except BlobTooLargeError:
                report.skipped.append((str(path), "too large"))
                continue
            except OSError as exc:
                report.skipped.append((str(path), exc.strerror or type(exc).__name__))
                continue
            staged[url] = incoming
        return staged

    def _stage(self, path: Path) -> IncomingFile:
        before = _signature(path)
        with path.open("rb") as source:
            file: StagedFile = self._blobs.stage(source, self._max_bytes)
        if _signature(path) != before:
            self._blobs.discard(file)
            raise _ChangedWhileReadError
        return IncomingFile(filename=path.name, declared_type=None, staged=file)

    def _apply(
        self,
        uow: UnitOfWork,
        principal: Principal,
        staged: dict[str, IncomingFile],
        known: dict[str, _Known],
        files: dict[str, Path],
        options: UploadOptions,
        report: SyncReport,
    ) -> None:
        gone = {url: k for url, k in known.items() if url not in files}
        by_content = {k.sha256: url for url, k in gone.items()}
        batch = UploadOptions(options.visibility, options.tags, options.group_ids, None, report.batch_id)
        for url, incoming in staged.items():
            name = str(files[url])
            try:
                if url in known:
                    self._documents.new_version(uow, principal, known[url].document_id, incoming, CLI_CONTEXT)
                    report.updated.append(name)
                elif incoming.staged.sha256 in by_content:
                    old_url = by_content.pop(incoming.staged.sha256)
                    self._move(uow, principal, gone.pop(old_url).document_id, url, files[url])
                    self._blobs.discard(incoming.staged)
                    report.renamed.append((old_url.removeprefix("file://"), name))
                else:
                    accepted = self._documents.accept_fetched(
                        uow, principal, incoming, url, batch, CLI_CONTEXT
                    )
                    if accepted.duplicate:
                        report.skipped.append((name, "the same content is already a document"))
                    else:
                        report.added.append(name)
            except DocentError as error:  # an unsupported or empty file: the others still sync
                self._blobs.discard(incoming.staged)
                report.skipped.append((name, error.message))
        for url, k in gone.items():
            self._documents.delete(uow, principal, k.document_id, CLI_CONTEXT)
            report.deleted.append(url.removeprefix("file://"))

    def _move(
        self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID, url: str, path: Path
    ) -> None:
        document: Document = self._documents.get(uow, principal, document_id)
        old_name = display_name(Path((document.source_url or "").removeprefix("file://")).name)
        if document.title == old_name:  # a title the user gave is kept
            document.title = display_name(path.name)[:500]
        document.source_url = url[:2000]
        record(
            uow, CLI_CONTEXT, "document.moved", org_id=principal.org_id, actor_id=principal.user_id,
            target_type="document", target_id=document.id, details={"source_url": document.source_url},
        )  # fmt: skip


class _ChangedWhileReadError(Exception):
    pass


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def _stable_sha256(path: Path) -> str:
    """The file's hash, if it did not change while being read (size, modification time and inode)."""
    before = _signature(path)
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in _blocks(source.fileno()):
            digest.update(block)
    if _signature(path) != before:
        raise _ChangedWhileReadError
    return digest.hexdigest()


def _blocks(fd: int) -> Iterator[bytes]:
    while block := os.read(fd, _READ_BLOCK):
        yield block
