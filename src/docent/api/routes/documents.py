from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import AfterValidator, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from docent.api.deps import (
    BlobStoreDep,
    ContextDep,
    DocumentServiceDep,
    PrincipalDep,
    ReadOnlyDep,
    SettingsDep,
    TransactionDep,
    UrlIngestServiceDep,
    rate_limit,
)
from docent.api.downloads import content_disposition
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut
from docent.api.uploads import UploadForm, read_upload
from docent.auth.rate_limits import RateLimitKind
from docent.db.repositories.documents import DocumentFilters
from docent.db.tables import Document, DocumentVersion, Job
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.service import Accepted, IncomingFile, UploadOptions, Visibility, normalise_tags
from docent.storage.blobs import BlobStore
from docent.types import PageRequest, VersionStatus, display_text

router = APIRouter(prefix=f"{API_PREFIX}/documents", tags=["documents"])
_UPLOAD_LIMIT = [rate_limit(RateLimitKind.UPLOAD)]  # counted before a byte of the body is read
# The routes that read their multipart body themselves, after authentication (`docent.api.uploads`): the
# app's body cap gives them DOCENT_MAX_UPLOAD_MB per file instead of DOCENT_MAX_JSON_BODY_KB.
STREAMED_UPLOADS = (
    ("POST", re.compile(rf"{API_PREFIX}/documents")),
    ("PUT", re.compile(rf"{API_PREFIX}/documents/[^/]+")),
)

Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title"]

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "tags": {"type": "string", "description": "Comma-separated tags"},
                    "visibility": {"type": "string", "enum": [v.value for v in Visibility]},
                    "group_ids": {
                        "type": "string",
                        "description": "Comma-separated group ids (visibility=group)",
                    },
                    "title": {"type": "string", "description": "Title, when one file is sent"},
                    "batch_id": {"type": "string", "description": "Groups the ingest jobs; see GET /jobs"},
                },
            }
        }
    },
}
_VERSION_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {"files": {"type": "string", "format": "binary"}},
            }
        }
    },
}


class Progress(BaseModel):
    done: int
    total: int


class VersionOut(OrmModel):
    number: int
    filename: Annotated[str, AfterValidator(display_text)]  # stored as given, shown safely
    content_type: str
    size_bytes: int
    sha256: str
    status: str
    error: str | None
    error_code: str | None
    page_count: int | None
    chunk_count: int | None
    chunks_embedded: int
    chunks_reused: int
    created_at: datetime
    processed_at: datetime | None


class DocumentOut(BaseModel):
    id: uuid.UUID
    title: str
    visibility: str
    tags: list[str]
    group_ids: list[uuid.UUID]
    owner_id: uuid.UUID | None
    source_url: str | None
    filename: str
    content_type: str
    size_bytes: int
    version: int
    indexed_version: int | None
    status: str
    error: str | None
    progress: Progress
    page_count: int | None
    chunk_count: int | None
    chunks_reused: int
    created_at: datetime
    updated_at: datetime
    versions: list[VersionOut] | None = None


class AcceptedOut(DocumentOut):
    duplicate: bool = Field(description="The same content was already here: this is that document.")
    job_id: uuid.UUID | None


class UploadOut(BaseModel):
    documents: list[AcceptedOut]
    batch_id: str | None


class UrlIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    visibility: Visibility = Visibility.PRIVATE
    group_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    title: str | None = Field(default=None, max_length=500)


class ChunkOut(OrmModel):
    id: int
    ordinal: int
    text: str
    token_count: int
    page: int | None
    section: list[str] = Field(validation_alias="section_path")


def _document_out(
    document: Document, jobs: dict[uuid.UUID, Job], *, with_versions: bool = False
) -> DocumentOut:
    latest = next(v for v in document.versions if v.number == document.latest_version)
    indexed = next((v.number for v in document.versions if v.id == document.indexed_version_id), None)
    return DocumentOut(
        id=document.id,
        title=display_text(document.title),
        visibility=document.visibility,
        tags=document.tags,
        group_ids=document.group_ids,
        owner_id=document.owner_id,
        source_url=document.source_url,
        filename=display_text(latest.filename),
        content_type=latest.content_type,
        size_bytes=latest.size_bytes,
        version=latest.number,
        indexed_version=indexed,
        status=latest.status,
        error=latest.error,
        progress=_progress(latest, jobs.get(latest.id)),
        page_count=latest.page_count,
        chunk_count=latest.chunk_count,
        chunks_reused=latest.chunks_reused,
        created_at=document.created_at,
        updated_at=document.updated_at,
        versions=[VersionOut.model_validate(v) for v in document.versions] if with_versions else None,
    )


def _progress(version: DocumentVersion, job: Job | None) -> Progress:
    if version.status == VersionStatus.COMPLETED:
        return Progress(done=version.chunk_count or 0, total=version.chunk_count or 0)
    if job is None:
        return Progress(done=0, total=0)
    return Progress(done=job.progress_done, total=job.progress_total)


def _documents_out(uow: UnitOfWork, documents: list[Document], **kwargs: Any) -> list[DocumentOut]:
    latest_ids = [v.id for d in documents for v in d.versions if v.number == d.latest_version]
    jobs = uow.jobs.latest_for_versions(latest_ids)
    return [_document_out(d, jobs, **kwargs) for d in documents]


def _accepted_out(uow: UnitOfWork, accepted: list[Accepted]) -> list[AcceptedOut]:
    shaped = _documents_out(uow, [a.document for a in accepted])
    return [
        AcceptedOut(**out.model_dump(), duplicate=a.duplicate, job_id=a.job_id)
        for out, a in zip(shaped, accepted, strict=True)
    ]


def _upload_options(form: UploadForm) -> UploadOptions:
    fields = form.fields
    try:
        visibility = Visibility(fields.get("visibility", "private").strip() or "private")
        group_ids = tuple(uuid.UUID(g.strip()) for g in fields.get("group_ids", "").split(",") if g.strip())
    except ValueError:
        raise DocentError(
            ErrorCode.VALIDATION_ERROR, "visibility is private, group or org; group_ids are UUIDs."
        ) from None
    title = fields.get("title", "").strip() or None
    if title and len(form.files) > 1:
        raise DocentError(ErrorCode.VALIDATION_ERROR, "A title can be given only when one file is sent.")
    batch_id = fields.get("batch_id", "").strip()[:64] or None
    return UploadOptions(
        visibility=visibility,
        tags=normalise_tags(fields.get("tags", "").split(",")),
        group_ids=group_ids,
        title=title[:500] if title else None,
        batch_id=batch_id,
    )


async def _receive(request: Request, blobs: BlobStore, max_file_bytes: int, max_files: int) -> UploadForm:
    return await read_upload(
        request, blobs, file_field="files", max_file_bytes=max_file_bytes, max_files=max_files
    )


def _incoming(form: UploadForm) -> list[IncomingFile]:
    return [IncomingFile(f.filename, f.declared_type, f.staged) for f in form.files]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadOut,
    summary="Upload documents (multipart field `files`, repeatable); ingestion runs in the background",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    dependencies=_UPLOAD_LIMIT,
)
async def upload_documents(
    request: Request,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    blobs: BlobStoreDep,
    settings: SettingsDep,
    uow: TransactionDep,
    context: ContextDep,
) -> UploadOut:
    form = await _receive(request, blobs, settings.max_upload_bytes, settings.max_files_per_upload)
    with form.discarded_on_error(blobs):
        options = _upload_options(form)
        accepted = await run_in_threadpool(
            documents.accept_files, uow, principal, _incoming(form), options, context
        )
        shaped = await run_in_threadpool(_accepted_out, uow, accepted)
    return UploadOut(documents=shaped, batch_id=options.batch_id)


@router.post(
    "/url",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadOut,
    summary="Fetch a web page or PDF and ingest it",
    dependencies=_UPLOAD_LIMIT,
)
def ingest_url(
    body: UrlIn,
    principal: PrincipalDep,
    url_ingest: UrlIngestServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> UploadOut:
    options = UploadOptions(
        visibility=body.visibility,
        tags=normalise_tags(body.tags),
        group_ids=tuple(body.group_ids),
        title=body.title,
    )
    accepted = url_ingest.ingest(uow, principal, body.url, options, context)
    return UploadOut(documents=_accepted_out(uow, [accepted]), batch_id=None)


@router.get("", response_model=PageOut[DocumentOut], summary="Documents the caller may read")
def list_documents(
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    status: VersionStatus | None = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    owner_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title")] = None,
    sort: Sort = "-created_at",
) -> Any:
    filters = DocumentFilters(
        status=status,
        tag=tag.strip().lower() if tag else None,
        owner_id=owner_id,
        title_contains=q,
        sort=sort,
    )
    found = documents.page(uow, principal, filters, PageRequest(page, page_size))
    items = _documents_out(uow, found.items)
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


@router.get("/{document_id}", response_model=DocumentOut, summary="One document, with its versions")
def get_document(
    document_id: uuid.UUID, principal: PrincipalDep, documents: DocumentServiceDep, uow: ReadOnlyDep
) -> DocumentOut:
    document = documents.get(uow, principal, document_id)
    return _documents_out(uow, [document], with_versions=True)[0]


@router.get("/{document_id}/file", summary="The original file of the latest version")
def get_document_file(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    uow: ReadOnlyDep,
    inline: Annotated[bool, Query(description="Open a PDF in the browser (e.g. at #page=N)")] = False,
) -> FileResponse:
    version, path = documents.original(uow, principal, document_id)
    # Only a PDF opens in place: any other uploaded file (HTML above all) could run as this site's page.
    shown = inline and version.content_type == "application/pdf"
    disposition = content_disposition(version.filename, inline=shown)
    return FileResponse(
        path,
        media_type=version.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": disposition},
    )


@router.get("/{document_id}/chunks", response_model=PageOut[ChunkOut], summary="The indexed chunks")
def get_document_chunks(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    found = documents.chunks(uow, principal, document_id, PageRequest(page, page_size))
    items = [ChunkOut.model_validate(c) for c in found.items]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


@router.put(
    "/{document_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    summary="Upload a new version (multipart field `files`, one file)",
    openapi_extra={"requestBody": _VERSION_BODY},
    dependencies=_UPLOAD_LIMIT,
)
async def upload_version(
    document_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    blobs: BlobStoreDep,
    settings: SettingsDep,
    uow: TransactionDep,
    context: ContextDep,
) -> AcceptedOut:
    form = await _receive(request, blobs, settings.max_upload_bytes, 1)
    with form.discarded_on_error(blobs):
        if len(form.files) != 1:
            raise DocentError(ErrorCode.BAD_REQUEST, "Send exactly one file in the field 'files'.")
        (incoming,) = _incoming(form)
        accepted = await run_in_threadpool(
            documents.new_version, uow, principal, document_id, incoming, context
        )
        (shaped,) = await run_in_threadpool(_accepted_out, uow, [accepted])
    return shaped


@router.post(
    "/{document_id}/reprocess",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    summary="Run ingestion again for the latest version",
    dependencies=_UPLOAD_LIMIT,
)
def reprocess_document(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> AcceptedOut:
    accepted = documents.reprocess(uow, principal, document_id, context)
    return _accepted_out(uow, [accepted])[0]


@router.delete(
    "/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete (soft); `purge=true` (admins) removes the file, chunks and vectors too",
)
def delete_document(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    purge: bool = False,
) -> None:
    documents.delete(uow, principal, document_id, context, purge=purge)
