"""Ingesting many files from disk as one batch (`docent ingest`)."""

from __future__ import annotations

import functools
import io
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from docent.auth.audit import CLI_CONTEXT
from docent.auth.policy import Principal
from docent.db.repositories.jobs import BatchProgress
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
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    labels: dict[uuid.UUID, str] = field(default_factory=dict)  # job id -> source, to report failures


@dataclass(frozen=True)
class Source:
    """Something to ingest: a file name (for display and type hints), a label for reports, its bytes."""

    name: str
    label: str
    open: Callable[[], BinaryIO]


def path_sources(paths: list[Path]) -> list[Source]:
    return [Source(path.name, str(path), functools.partial(_read_binary, path)) for path in paths]


def text_sources(items: Iterable[tuple[str, str]]) -> list[Source]:
    """(file name, text) pairs, e.g. a benchmark corpus held in memory."""
    return [Source(name, name, functools.partial(_utf8, text)) for name, text in items]


def _read_binary(path: Path) -> BinaryIO:
    return path.open("rb")


def _utf8(text: str) -> BinaryIO:
    return io.BytesIO(text.encode("utf-8"))


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
    sources: list[Source],
    options: UploadOptions,
    max_bytes: int,
) -> Submitted:
    """Accept every readable, supported file; a bad file is reported and skipped, never fatal to the rest."""
    batch_id = options.batch_id or uuid.uuid4().hex
    options = UploadOptions(options.visibility, options.tags, options.group_ids, None, batch_id)
    submitted = Submitted(batch_id=batch_id)
    for start in range(0, len(sources), ACCEPT_CHUNK):
        with database.unit_of_work() as uow:
            for source in sources[start : start + ACCEPT_CHUNK]:
                incoming = None
                try:
                    incoming = _stage(blobs, source, max_bytes)
                    (accepted,) = documents.accept_files(uow, principal, [incoming], options, CLI_CONTEXT)
                except DocentError as exc:
                    if incoming is not None:
                        blobs.discard(incoming.staged)
                    submitted.rejected.append((source.label, exc.message))
                    continue
                submitted.duplicates += accepted.duplicate
                submitted.accepted += not accepted.duplicate
                if accepted.job_id is not None:
                    submitted.labels[accepted.job_id] = source.label
            uow.commit()
    return submitted


def _stage(blobs: BlobStore, source: Source, max_bytes: int) -> IncomingFile:
    try:
        with source.open() as stream:
            staged = blobs.stage(stream, max_bytes)
    except BlobTooLargeError:
        message = f"larger than {max_bytes // (1024 * 1024)} MB"
        raise DocentError(ErrorCode.DOCUMENT_TOO_LARGE, message) from None
    except OSError as exc:
        raise DocentError(ErrorCode.BAD_REQUEST, f"cannot read it: {exc.strerror}") from None
    return IncomingFile(source.name, None, staged)


def wait_for_batch(
    database: Database,
    batch_id: str,
    on_progress: Callable[[BatchProgress], None],
    poll_seconds: float = 0.25,
) -> BatchProgress:
    """Poll the batch's jobs until every one has completed or failed, reporting each reading."""
    while True:
        with database.unit_of_work(write=False) as uow:
            progress = uow.jobs.batch_progress(batch_id)
        on_progress(progress)
        if progress.finished >= progress.documents:
            return progress
        time.sleep(poll_seconds)


def expected_chunks(progress: BatchProgress) -> int | None:
    """The batch's chunks: those known, and for documents not parsed yet, the mean of the parsed ones.
    None while no document is parsed."""
    if not progress.unsized:
        return progress.chunks_total
    if not progress.sized:
        return None
    return progress.chunks_total + round(progress.unsized * progress.chunks_total / progress.sized)


def batch_failures(database: Database, submitted: Submitted) -> list[tuple[str, str]]:
    """(source, reason) of every document of the batch that failed."""
    with database.unit_of_work(write=False) as uow:
        failed = uow.jobs.batch_failures(submitted.batch_id)
    return [(submitted.labels.get(job_id, str(job_id)), error) for job_id, error in failed]
