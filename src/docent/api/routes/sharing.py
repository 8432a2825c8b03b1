"""Sharing after upload: PATCH a document's title, tags, visibility and groups; share it with single users."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from docent.api.deps import ContextDep, PrincipalDep, SharingServiceDep, TransactionDep
from docent.api.routes import API_PREFIX
from docent.api.routes.document_shapes import DocumentOut, documents_out
from docent.ingest.service import MAX_TAGS, Visibility
from docent.ingest.sharing import MAX_GROUPS, MAX_TITLE_CHARS, DocumentChanges

router = APIRouter(prefix=f"{API_PREFIX}/documents", tags=["documents"])


class DocumentPatch(BaseModel):
    """Only the fields given change."""

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE_CHARS)
    tags: list[str] | None = Field(default=None, max_length=MAX_TAGS)
    visibility: Visibility | None = None
    group_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=MAX_GROUPS, description="The groups that may read it (visibility `group`)"
    )


class ShareIn(BaseModel):
    user_id: uuid.UUID


@router.patch(
    "/{document_id:uuid}",
    response_model=DocumentOut,
    summary="Change title, tags, visibility or groups (owner or admin); audited, effective at once",
)
def update_document(
    document_id: uuid.UUID,
    body: DocumentPatch,
    principal: PrincipalDep,
    sharing: SharingServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> DocumentOut:
    """Changes a document's title, tags, visibility or groups (its owner or an admin). Audited, and in
    effect for the very next search, chat, cached answer and /v1 call."""
    changes = DocumentChanges(
        title=body.title,
        tags=None if body.tags is None else tuple(body.tags),
        visibility=body.visibility,
        group_ids=None if body.group_ids is None else tuple(body.group_ids),
    )
    document = sharing.update(uow, principal, document_id, changes, context)
    return documents_out(uow, [document])[0]


@router.post(
    "/{document_id:uuid}/shares",
    response_model=DocumentOut,
    summary="Share with one user of the organisation (owner or admin)",
)
def share_document(
    document_id: uuid.UUID,
    body: ShareIn,
    principal: PrincipalDep,
    sharing: SharingServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> DocumentOut:
    """Shares the document with one user of the organisation, whatever its visibility (its owner or an
    admin)."""
    document = sharing.share(uow, principal, document_id, body.user_id, context)
    return documents_out(uow, [document])[0]


@router.delete(
    "/{document_id:uuid}/shares/{user_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop sharing with one user (owner or admin)",
)
def unshare_document(
    document_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: PrincipalDep,
    sharing: SharingServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> None:
    """Ends a share with one user (its owner or an admin); the user no longer finds the document unless its
    visibility lets them."""
    sharing.unshare(uow, principal, document_id, user_id, context)
