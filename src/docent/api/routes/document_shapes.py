"""The shapes of `/documents`: what a document, a version and a chunk look like in answers, the request
bodies, and the multipart bodies as the OpenAPI document describes them (routes read those by hand)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from docent.api.schemas import OrmModel
from docent.db.tables import Document, DocumentVersion, Job
from docent.db.uow import UnitOfWork
from docent.ingest.service import MAX_TAG_LENGTH, MAX_TAGS, Accepted, Visibility
from docent.ingest.types import ContentType
from docent.types import VersionStatus, display_text

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_GROUP_IDS = rf"^\s*({_UUID}\s*(,\s*{_UUID}\s*)*)?$"

UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "format": "binary"},
                        "description": "The files: PDF, DOCX, HTML, Markdown or plain text",
                    },
                    "tags": {"type": "string", "description": "Comma-separated tags"},
                    "visibility": {
                        "type": "string",
                        "enum": [v.value for v in Visibility],
                        "description": "Who may read them: the owner (and admins), `group_ids`, or everyone",
                    },
                    "group_ids": {
                        "type": "string",
                        "pattern": _GROUP_IDS,
                        "description": "Comma-separated group ids (visibility=group)",
                    },
                    "title": {"type": "string", "description": "Title, when one file is sent"},
                    "batch_id": {"type": "string", "description": "Groups the ingest jobs; see GET /jobs"},
                },
            },
            # Swagger UI shows this; a client sends the file itself as a part named `files`.
            "example": {"files": ["handbook.pdf"], "tags": "hr,policy", "visibility": "org"},
        }
    },
}
VERSION_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "string", "format": "binary", "description": "The new version's file"}
                },
            }
        }
    },
}


_STATUS = "`queued`, `processing`, `completed` (searchable) or `failed` (see `error`)"


class Progress(BaseModel):
    """Chunks embedded so far, of all the chunks of the version being processed."""

    done: int = Field(description="Chunks embedded")
    total: int = Field(description="Chunks in all; 0 until the file is parsed")


class VersionOut(OrmModel):
    """One uploaded version of a document."""

    number: int = Field(description="1 for the first upload, then 2, 3, ...")
    filename: Annotated[str, AfterValidator(display_text)] = Field(  # stored as given, shown safely
        description="The file's name as uploaded (control and bidi characters removed)"
    )
    content_type: str = Field(description="The type Docent recognised from the bytes")
    size_bytes: int
    sha256: str = Field(description="Hex digest of the file")
    status: str = Field(description=_STATUS)
    error: str | None = Field(description="Why it failed, for people")
    error_code: str | None = Field(description="Why it failed, stable: `pdf_no_text`, `parse_timeout`, ...")
    page_count: int | None = Field(description="Pages of a PDF")
    chunk_count: int | None = Field(description="Chunks indexed, once completed")
    chunks_embedded: int = Field(description="Chunks whose vectors were computed")
    chunks_reused: int = Field(description="Chunks whose vectors were reused from the previous version")
    created_at: datetime
    processed_at: datetime | None = Field(description="When ingestion ended")


class DocumentOut(BaseModel):
    """A document and the state of its latest version."""

    id: uuid.UUID = Field(description="Stays the same across versions")
    title: str = Field(description="Given at upload, or the file's name")
    visibility: str = Field(description="`private` (owner and admins), `group` (`group_ids`) or `org`")
    tags: list[str] = Field(description="Lowercase tags")
    group_ids: list[uuid.UUID] = Field(description="Groups that may read it (visibility `group`)")
    shared_with: list[uuid.UUID] = Field(description="Users it is shared with, whatever its visibility")
    owner_id: uuid.UUID | None = Field(description="Who uploaded it")
    source_url: str | None = Field(description="The address it was fetched from (URL import)")
    filename: str = Field(description="The latest version's file name")
    content_type: str = Field(description="The latest version's type, recognised from its bytes")
    size_bytes: int = Field(description="The latest version's size")
    version: int = Field(description="The latest version's number")
    indexed_version: int | None = Field(description="The version search and answers use; null until one is")
    status: str = Field(description=f"The latest version's: {_STATUS}")
    error: str | None = Field(description="Why the latest version failed")
    progress: Progress = Field(description="Ingestion progress of the latest version")
    page_count: int | None = Field(description="Pages of a PDF")
    chunk_count: int | None = Field(description="Chunks indexed, once completed")
    chunks_reused: int = Field(description="Chunks whose vectors were reused from the previous version")
    created_at: datetime = Field(description="First upload")
    updated_at: datetime = Field(description="Last change")
    versions: list[VersionOut] | None = Field(
        default=None, description="Every version (single document only)"
    )


class AcceptedOut(DocumentOut):
    """A document accepted for ingestion."""

    duplicate: bool = Field(description="The same content was already here: this is that document.")
    job_id: uuid.UUID | None = Field(description="The ingest job to poll at `GET /jobs/{id}`; null if none")


class UploadOut(BaseModel):
    """The documents accepted, in the order of the files."""

    documents: list[AcceptedOut] = Field(description="One per file")
    batch_id: str | None = Field(description="The batch named at upload: `GET /jobs?batch=` follows it")


class UrlIn(BaseModel):
    """A web page or PDF to fetch and ingest."""

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="An http:// or https:// address; anything else is 400 `invalid_url`",
    )
    tags: list[Annotated[str, Field(max_length=MAX_TAG_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Tags for the document"
    )
    visibility: Visibility = Field(default=Visibility.PRIVATE, description="Who may read it")
    group_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Groups that may read it (visibility `group`)"
    )
    title: str | None = Field(
        default=None, max_length=500, description="Title; default: the name at the end of the address"
    )


class ChunkOut(OrmModel):
    """A passage of a document as indexed."""

    id: int = Field(description="The chunk id search results and citations refer to")
    ordinal: int = Field(description="Position in the document, from 0")
    text: str
    token_count: int = Field(description="Tokens of the embedding model's tokenizer")
    page: int | None = Field(description="PDF page, from 1")
    section: list[str] = Field(
        validation_alias="section_path", description="Headings above it, outermost first"
    )


def document_out(
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
        shared_with=document.shared_with,
        owner_id=document.owner_id,
        source_url=document.source_url,
        filename=display_text(latest.filename),
        content_type=latest.content_type,
        size_bytes=latest.size_bytes,
        version=latest.number,
        indexed_version=indexed,
        status=latest.status,
        error=latest.error,
        progress=progress_of(latest, jobs.get(latest.id)),
        page_count=latest.page_count,
        chunk_count=latest.chunk_count,
        chunks_reused=latest.chunks_reused,
        created_at=document.created_at,
        updated_at=document.updated_at,
        versions=[VersionOut.model_validate(v) for v in document.versions] if with_versions else None,
    )


def progress_of(version: DocumentVersion, job: Job | None) -> Progress:
    if version.status == VersionStatus.COMPLETED:
        return Progress(done=version.chunk_count or 0, total=version.chunk_count or 0)
    if job is None:
        return Progress(done=0, total=0)
    return Progress(done=job.progress_done, total=job.progress_total)


def documents_out(uow: UnitOfWork, documents: list[Document], **kwargs: Any) -> list[DocumentOut]:
    latest_ids = [v.id for d in documents for v in d.versions if v.number == d.latest_version]
    jobs = uow.jobs.latest_for_versions(latest_ids)
    return [document_out(d, jobs, **kwargs) for d in documents]


def accepted_out(uow: UnitOfWork, accepted: list[Accepted]) -> list[AcceptedOut]:
    shaped = documents_out(uow, [a.document for a in accepted])
    return [
        AcceptedOut(**out.model_dump(), duplicate=a.duplicate, job_id=a.job_id)
        for out, a in zip(shaped, accepted, strict=True)
    ]


FILE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file as uploaded, with the type Docent recognised it as; a download unless "
        "`inline=true` and it is a PDF.",
        "content": {kind.value: {"schema": {"type": "string", "format": "binary"}} for kind in ContentType},
    }
}
