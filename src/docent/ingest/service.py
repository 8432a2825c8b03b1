"""Accepting documents: uploads, new versions, deletes, reprocessing, and what readers may see of them.

The file is on disk and its rows are in the caller's transaction before anything is answered; the ingest
job is enqueued only after that transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path, PurePosixPath

from docent.auth.audit import RequestContext, record
from docent.auth.groups import scope_of
from docent.auth.policy import CredentialKind, Principal, ensure_admin, ensure_can_modify_document
from docent.db.repositories.documents import DocumentFilters
from docent.db.tables import Chunk, Document, DocumentVersion, Job
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.sniff import sniff
from docent.ingest.types import ContentType, UnsupportedContent
from docent.jobs.queue import JobQueue
from docent.storage.blobs import BlobStore, StagedFile
from docent.types import JobStatus, Page, PageRequest, ReaderScope, VersionStatus, display_text

INGEST_JOB = "ingest"
MAX_TAGS = 50
MAX_TAG_LENGTH = 100


class Visibility(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    ORG = "org"


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    declared_type: str | None
    staged: StagedFile


@dataclass(frozen=True)
class UploadOptions:
    visibility: Visibility = Visibility.PRIVATE
    tags: tuple[str, ...] = ()
    group_ids: tuple[uuid.UUID, ...] = ()
    title: str | None = None
    batch_id: str | None = None


@dataclass
class Accepted:
    """One accepted file: a new document (or version), or the readable document that already has it."""

    document: Document
    duplicate: bool
    job_id: uuid.UUID | None = None
    warnings: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def display_name(filename: str) -> str:
    """The last component of a client's file name, kept as given (shown through `display_text`) but for NUL,
    which PostgreSQL cannot store in text: it becomes the visible U+2400. Never used as a path."""
    name = PurePosixPath(filename.replace("\\", "/").replace("\x00", "\u2400")).name.strip()
    return (name or "untitled")[:255]


def normalise_tags(raw: list[str]) -> tuple[str, ...]:
    tags = sorted({tag.strip().lower() for tag in raw if tag.strip()})
    # 400, not 422: a form's comma-separated tags match the API's schema however many there are.
    if len(tags) > MAX_TAGS:
        raise DocentError(ErrorCode.BAD_REQUEST, f"At most {MAX_TAGS} tags per document.")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise DocentError(ErrorCode.BAD_REQUEST, f"A tag has at most {MAX_TAG_LENGTH} characters.")
    return tuple(tags)


class DocumentService:
    def __init__(
        self, blobs: BlobStore, queue: JobQueue, *, max_attempts: int, max_queued_per_user: int | None = None
    ) -> None:
        self._blobs = blobs
        self._queue = queue
        self._max_attempts = max_attempts
        self._max_queued = max_queued_per_user

    # ---------- readers ----------

    def scope(self, uow: UnitOfWork, principal: Principal) -> ReaderScope:
        return scope_of(uow, principal)

    def get(
        self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID, *, for_update: bool = False
    ) -> Document:
        document = uow.documents.get_readable(self.scope(uow, principal), document_id, for_update=for_update)
        if document is None:
            raise DocentError(ErrorCode.DOCUMENT_NOT_FOUND)
        return document

    def page(
        self, uow: UnitOfWork, principal: Principal, filters: DocumentFilters, page: PageRequest
    ) -> Page[Document]:
        return uow.documents.page(self.scope(uow, principal), filters, page)

    def chunks(
        self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID, page: PageRequest
    ) -> tuple[Page[Chunk], int | None]:
        """A page of the indexed version's chunks, and that version's number (None: nothing indexed)."""
        document = self.get(uow, principal, document_id)
        if document.indexed_version_id is None:
            return Page(items=[], total=0, page=page.page, page_size=page.page_size), None
        number = next(v.number for v in document.versions if v.id == document.indexed_version_id)
        items, total = uow.chunks.page_for_version(document.indexed_version_id, page.offset, page.page_size)
        return Page(items=items, total=total, page=page.page, page_size=page.page_size), number

    def original(
        self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID
    ) -> tuple[DocumentVersion, Path]:
        """The latest version's record and where its file is."""
        document = self.get(uow, principal, document_id)
        version = uow.documents.latest_version(document)
        path = self._blobs.path_of(version.sha256)
        if not path.is_file():
            raise DocentError(
                ErrorCode.NOT_FOUND, "The document's file is missing; run `docent index check`."
            )
        return version, path

    # ---------- writers ----------

    def accept_files(
        self,
        uow: UnitOfWork,
        principal: Principal,
        files: list[IncomingFile],
        options: UploadOptions,
        context: RequestContext,
    ) -> list[Accepted]:
        """Check every file first (all or nothing), then store each as a document with its ingest job."""
        if not files:
            raise DocentError(ErrorCode.BAD_REQUEST, "No files: send them in the multipart field 'files'.")
        check_groups(uow, principal, options.visibility, options.group_ids)
        self._check_queue_room(uow, principal, len(files))
        content_types = [self._check_file(file) for file in files]
        scope = self.scope(uow, principal)
        accepted = []
        for file, content_type in zip(files, content_types, strict=True):
            existing = uow.documents.live_duplicate(scope, file.staged.sha256)
            if existing is not None:
                self._blobs.discard(file.staged)
                accepted.append(Accepted(existing, duplicate=True))
                continue
            document = Document(
                id=uuid.uuid4(),
                org_id=principal.org_id,
                owner_id=principal.user_id,
                title=display_text(options.title or display_name(file.filename))[:500] or "untitled",
                visibility=options.visibility.value,
                latest_version=0,
            )
            uow.documents.add(document)
            uow.documents.set_tags(document, list(options.tags))
            uow.documents.set_shares(document, list(options.group_ids))
            job = self._add_version(uow, principal, document, file, content_type, options.batch_id)
            record(
                uow,
                context,
                "document.upload",
                org_id=principal.org_id,
                actor_id=principal.user_id,
                target_type="document",
                target_id=document.id,
                details={"filename": display_name(file.filename), "size": file.staged.size},
            )
            accepted.append(Accepted(document, duplicate=False, job_id=job.id))
        return accepted

    def accept_fetched(
        self,
        uow: UnitOfWork,
        principal: Principal,
        file: IncomingFile,
        source_url: str,
        options: UploadOptions,
        context: RequestContext,
    ) -> Accepted:
        (accepted,) = self.accept_files(uow, principal, [file], options, context)
        if not accepted.duplicate:
            accepted.document.source_url = source_url[:2000]
        return accepted

    def new_version(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document_id: uuid.UUID,
        file: IncomingFile,
        context: RequestContext,
        batch_id: str | None = None,
    ) -> Accepted:
        document = self.get(uow, principal, document_id)
        ensure_can_modify_document(principal, document.owner_id)
        self._check_queue_room(uow, principal, 1)
        content_type = self._check_file(file)
        if uow.documents.latest_version(document).sha256 == file.staged.sha256:
            self._blobs.discard(file.staged)
            return Accepted(document, duplicate=True)
        job = self._add_version(uow, principal, document, file, content_type, batch_id)
        record(
            uow,
            context,
            "document.new_version",
            org_id=principal.org_id,
            actor_id=principal.user_id,
            target_type="document",
            target_id=document.id,
            details={"version": document.latest_version},
        )
        return Accepted(document, duplicate=False, job_id=job.id)

    def reprocess(
        self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID, context: RequestContext
    ) -> Accepted:
        document = self.get(uow, principal, document_id)
        ensure_can_modify_document(principal, document.owner_id)
        self._check_queue_room(uow, principal, 1)
        version = uow.documents.latest_version(document)
        version.status, version.error, version.error_code = VersionStatus.QUEUED, None, None
        job = self._enqueue_ingest(uow, principal, document, version, None)
        record(
            uow,
            context,
            "document.reprocess",
            org_id=principal.org_id,
            actor_id=principal.user_id,
            target_type="document",
            target_id=document.id,
        )
        return Accepted(document, duplicate=False, job_id=job.id)

    def delete(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document_id: uuid.UUID,
        context: RequestContext,
        *,
        purge: bool = False,
    ) -> None:
        """Soft delete: gone from listings and search at once (its chunks go in this transaction).
        Purge (admins): the rows and, once committed, the files no other version uses."""
        if purge:
            ensure_admin(principal)
            document = uow.documents.get(document_id, with_deleted=True)
            if document is None or document.org_id != principal.org_id:
                raise DocentError(ErrorCode.DOCUMENT_NOT_FOUND)
        else:
            document = self.get(uow, principal, document_id)
            ensure_can_modify_document(principal, document.owner_id)
        uow.chunks.delete_for_document(document.id)
        document.indexed_version_id = None
        if purge:
            keys = {version.sha256 for version in document.versions}
            uow.documents.delete(document)
            uow.flush()
            orphaned = {key for key in keys if not uow.documents.storage_key_in_use(key)}
            uow.after_commit(lambda: self._blobs.delete_many(orphaned))
        else:
            uow.documents.soft_delete(document, _now())
        action = "document.purge" if purge else "document.delete"
        record(
            uow,
            context,
            action,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            target_type="document",
            target_id=document_id,
        )

    # ---------- internals ----------

    def _check_queue_room(self, uow: UnitOfWork, principal: Principal, adding: int) -> None:
        """One member's thousand uploads must not bury everyone's: past DOCENT_MAX_QUEUED_DOCUMENTS_PER_USER
        documents waiting to be indexed, more are refused (429) until some are done. An operator's command
        line (`docent ingest`) is not capped."""
        if self._max_queued is None or principal.credential is CredentialKind.COMMAND_LINE:
            return
        waiting = uow.jobs.unfinished_for_user(principal.user_id, INGEST_JOB)
        if waiting + adding > self._max_queued:
            raise DocentError(
                ErrorCode.TOO_MANY_QUEUED_DOCUMENTS,
                f"{waiting} of your documents are waiting to be indexed and at most {self._max_queued} may "
                "wait; send more when some are done.",
                details={"queued": waiting, "limit": self._max_queued},
                headers={"Retry-After": "30"},
            )

    def _check_file(self, file: IncomingFile) -> ContentType:
        name = display_name(file.filename)
        if file.staged.size == 0:
            raise DocentError(ErrorCode.EMPTY_FILE, f"The file {name!r} is empty.")
        try:
            return sniff(file.staged.path, file.filename, file.declared_type)
        except UnsupportedContent as exc:
            raise DocentError(exc.code, f"{name}: {exc.message}") from None

    def _add_version(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document: Document,
        file: IncomingFile,
        content_type: ContentType,
        batch_id: str | None,
    ) -> Job:
        created = self._blobs.commit(file.staged)
        if created:
            key = file.staged.sha256
            uow.after_rollback(lambda: self._blobs.delete(key))
        document.latest_version += 1
        version = DocumentVersion(
            id=uuid.uuid4(),
            document_id=document.id,
            number=document.latest_version,
            filename=display_name(file.filename),
            content_type=content_type.value,
            size_bytes=file.staged.size,
            sha256=file.staged.sha256,
            status=VersionStatus.QUEUED,
        )
        uow.documents.add_version(version)
        document.versions.append(version)
        document.updated_at = _now()
        return self._enqueue_ingest(uow, principal, document, version, batch_id)

    def _enqueue_ingest(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document: Document,
        version: DocumentVersion,
        batch_id: str | None,
    ) -> Job:
        uow.flush()  # the document and version rows first: the tables' foreign keys form a cycle
        job = Job(
            id=uuid.uuid4(),
            org_id=principal.org_id,
            created_by=principal.user_id,
            kind=INGEST_JOB,
            status=JobStatus.QUEUED,
            batch_id=batch_id,
            document_id=document.id,
            version_id=version.id,
            attempts=0,
            max_attempts=self._max_attempts,
            progress_done=0,
            progress_total=0,
        )
        uow.jobs.add(job)
        job_id = job.id
        uow.after_commit(lambda: self._queue.enqueue(job_id))
        return job


def check_groups(
    uow: UnitOfWork, principal: Principal, visibility: Visibility, group_ids: Sequence[uuid.UUID]
) -> None:
    """Groups fit the visibility (any for 'group', none otherwise) and are the principal's organisation's.
    400, not 422: each field matches the API's schema; together they cannot be done."""
    if visibility is Visibility.GROUP and not group_ids:
        raise DocentError(ErrorCode.BAD_REQUEST, "Visibility 'group' needs at least one group id.")
    if visibility is not Visibility.GROUP and group_ids:
        raise DocentError(ErrorCode.BAD_REQUEST, "Group ids are only for visibility 'group'.")
    for group_id in group_ids:
        if uow.groups.get_in_org(principal.org_id, group_id) is None:
            raise DocentError(ErrorCode.GROUP_NOT_FOUND)
