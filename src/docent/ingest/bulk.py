"""Ingesting many files from disk as one batch (`docent ingest`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docent.auth.audit import CLI_CONTEXT
from docent.auth.policy import Principal
from docent.db.uow import Database
from docent.errors import DocentError, ErrorCode
from docent.ingest.service import DocumentService, IncomingFile, UploadOptions
from docent.storage.blobs import BlobStore, BlobTooLargeError

# Files accepted per transaction: big enough to be quick, small enough not to hold SQLite's write lock long.
ACCEPT_CHUNK = 100


@dataclass
class Submitted:
    batch_id: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[Path, str]] = field(default_factory=list)


def collect_files(paths: list[Path]) -> list[Path]:
    """Files named, and the files under folders named (recursively, hidden ones skipped), in order."""
    found: list[Path] = []
    for path in paths:
        found.extend(_walk(path) if path.is_dir() else [path])
    return found


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield path


def submit_batch(
    database: Database,
    blobs: BlobStore,
    documents: DocumentService,
    principal: Principal,
    files: list[Path],
    options: UploadOptions,
    max_bytes: int,
) -> Submitted:
    """Accept every readable, supported file; a bad file is reported and skipped, never fatal to the rest."""
    batch_id = options.batch_id or uuid.uuid4().hex
    options = UploadOptions(options.visibility, options.tags, options.group_ids, None, batch_id)
    submitted = Submitted(batch_id=batch_id)
    for start in range(0, len(files), ACCEPT_CHUNK):
        with database.unit_of_work() as uow:
            for path in files[start : start + ACCEPT_CHUNK]:
                incoming = None
                try:
                    incoming = _stage(blobs, path, max_bytes)
                    (accepted,) = documents.accept_files(uow, principal, [incoming], options, CLI_CONTEXT)
                except DocentError as exc:
                    if incoming is not None:
                        blobs.discard(incoming.staged)
                    submitted.rejected.append((path, exc.message))
                    continue
                submitted.duplicates += accepted.duplicate
                submitted.accepted += not accepted.duplicate
            uow.commit()
    return submitted


def _stage(blobs: BlobStore, path: Path, max_bytes: int) -> IncomingFile:
    try:
        with path.open("rb") as source:
            staged = blobs.stage(source, max_bytes)
    except BlobTooLargeError:
        message = f"larger than {max_bytes // (1024 * 1024)} MB"
        raise DocentError(ErrorCode.DOCUMENT_TOO_LARGE, message) from None
    except OSError as exc:
        raise DocentError(ErrorCode.BAD_REQUEST, f"cannot read it: {exc.strerror}") from None
    return IncomingFile(path.name, None, staged)
