from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from docent.api import shown
from docent.api.deps import (
    AccessRecorderDep,
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
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.routes.document_shapes import (
    FILE_CONTENT,
    UPLOAD_BODY,
    VERSION_BODY,
    AcceptedOut,
    ChunkOut,
    DocumentOut,
    UploadOut,
    UrlIn,
    accepted_out,
    documents_out,
)
from docent.api.schemas import PageOut
from docent.api.uploads import UploadForm, read_upload
from docent.auth.rate_limits import RateLimitKind
from docent.db.repositories.documents import DocumentFilters
from docent.errors import DocentError, ErrorCode
from docent.ingest.service import IncomingFile, UploadOptions, Visibility, normalise_tags
from docent.storage.blobs import BlobStore
from docent.types import PageRequest, VersionStatus

router = APIRouter(prefix=f"{API_PREFIX}/documents", tags=["documents"])
_UPLOAD_LIMIT = [rate_limit(RateLimitKind.UPLOAD)]  # counted before a byte of the body is read
# The routes that read their multipart body themselves, after authentication (`docent.api.uploads`): the
# app's body cap gives them DOCENT_MAX_UPLOAD_MB per file instead of DOCENT_MAX_JSON_BODY_KB.
STREAMED_UPLOADS = (
    ("POST", re.compile(rf"{API_PREFIX}/documents")),
    ("PUT", re.compile(rf"{API_PREFIX}/documents/[^/]+")),
)

Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "title", "-title"]


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
        raise DocentError(ErrorCode.BAD_REQUEST, "A title can be given only when one file is sent.")
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
    openapi_extra={"requestBody": UPLOAD_BODY},
    responses=errors(404, 415),
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
    """Multipart: one or more `files` (PDF, DOCX, HTML, Markdown or plain text, recognised by their bytes),
    with optional `tags`, `visibility` (`private`, `group` with `group_ids`, or `org`), `title` (one file
    only) and `batch_id`. Answers 202 at once with one record per file; poll `GET /documents/{id}` or `GET
    /jobs?batch=` until `status` is `completed` or `failed`. A file whose content is already in a document
    the caller can read comes back as that document with `duplicate: true`."""
    form = await _receive(request, blobs, settings.max_upload_bytes, settings.max_files_per_upload)
    with form.discarded_on_error(blobs):
        options = _upload_options(form)
        accepted = await run_in_threadpool(
            documents.accept_files, uow, principal, _incoming(form), options, context
        )
        shaped = await run_in_threadpool(accepted_out, uow, accepted)
    return UploadOut(documents=shaped, batch_id=options.batch_id)


@router.post(
    "/url",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadOut,
    summary="Fetch a web page or PDF and ingest it",
    responses=errors(404, 415, 502, 504),
    dependencies=_UPLOAD_LIMIT,
)
def ingest_url(
    body: UrlIn,
    principal: PrincipalDep,
    url_ingest: UrlIngestServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> UploadOut:
    """Docent fetches the address (http or https; private and cloud-metadata addresses are refused with 400
    `url_forbidden`) and ingests the page or PDF like an upload. A site that cannot be reached is 502
    `fetch_failed`, a slow one 504 `fetch_timeout`."""
    options = UploadOptions(
        visibility=body.visibility,
        tags=normalise_tags(body.tags),
        group_ids=tuple(body.group_ids),
        title=body.title,
    )
    accepted = url_ingest.ingest(uow, principal, body.url, options, context)
    return UploadOut(documents=accepted_out(uow, [accepted]), batch_id=None)


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
    """Only documents the caller may read (their own, their groups', the organisation's; admins see all of the
    organisation), filtered by status, tag, owner or words of the title."""
    filters = DocumentFilters(
        status=status,
        tag=tag.strip().lower() if tag else None,
        owner_id=owner_id,
        title_contains=q,
        sort=sort,
    )
    found = documents.page(uow, principal, filters, PageRequest(page, page_size))
    items = documents_out(uow, found.items)
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


@router.get("/{document_id:uuid}", response_model=DocumentOut, summary="One document, with its versions")
def get_document(
    document_id: uuid.UUID, principal: PrincipalDep, documents: DocumentServiceDep, uow: ReadOnlyDep
) -> DocumentOut:
    """The latest version's status, progress and error, and every version."""
    document = documents.get(uow, principal, document_id)
    return documents_out(uow, [document], with_versions=True)[0]


@router.get(
    "/{document_id:uuid}/file",
    summary="The original file of the latest version",
    response_class=Response,
    responses=FILE_CONTENT,
)
def get_document_file(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    access: AccessRecorderDep,
    uow: ReadOnlyDep,
    inline: Annotated[bool, Query(description="Open a PDF in the browser (e.g. at #page=N)")] = False,
) -> FileResponse:
    """The latest version's file as uploaded, as a download (or, for a PDF with `inline=true`, shown in the
    browser)."""
    version, path = documents.original(uow, principal, document_id)
    access.record(principal, "documents.file", shown.file_download(version))
    # Only a PDF opens in place: any other uploaded file (HTML above all) could run as this site's page.
    in_place = inline and version.content_type == "application/pdf"
    disposition = content_disposition(version.filename, inline=in_place)
    return FileResponse(
        path,
        media_type=version.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": disposition},
    )


@router.get("/{document_id:uuid}/chunks", response_model=PageOut[ChunkOut], summary="The indexed chunks")
def get_document_chunks(
    document_id: uuid.UUID,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    access: AccessRecorderDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The chunks of the indexed version, in order, with their page and section path."""
    found, version = documents.chunks(uow, principal, document_id, PageRequest(page, page_size))
    access.record(principal, "documents.chunks", shown.chunk_listing(found.items, version))
    items = [ChunkOut.model_validate(c) for c in found.items]
    return {"items": items, "total": found.total, "page": found.page, "page_size": found.page_size}


@router.put(
    "/{document_id:uuid}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedOut,
    summary="Upload a new version (multipart field `files`, one file)",
    openapi_extra={"requestBody": VERSION_BODY},
    responses=errors(415),
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
    """Owner or admin. Multipart with one file in `files`; the document keeps its id, title and sharing, and
    the new version replaces the old one in search once it is indexed."""
    form = await _receive(request, blobs, settings.max_upload_bytes, 1)
    with form.discarded_on_error(blobs):
        if len(form.files) != 1:
            raise DocentError(ErrorCode.BAD_REQUEST, "Send exactly one file in the field 'files'.")
        (incoming,) = _incoming(form)
        accepted = await run_in_threadpool(
            documents.new_version, uow, principal, document_id, incoming, context
        )
        (shaped,) = await run_in_threadpool(accepted_out, uow, [accepted])
    return shaped


@router.post(
    "/{document_id:uuid}/reprocess",
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
    """Owner or admin. Parses, chunks and embeds the latest version again, e.g. after a failure or a change of
    embedding model."""
    accepted = documents.reprocess(uow, principal, document_id, context)
    return accepted_out(uow, [accepted])[0]


@router.delete(
    "/{document_id:uuid}",
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
    """Owner or admin. The document disappears from lists, search and answers at once. With `purge=true`
    (admins only) its files, chunks and vectors are removed too."""
    documents.delete(uow, principal, document_id, context, purge=purge)
