"""Sharing after upload: a document's title, tags, visibility and groups, and the single users it is shared
with, changed by its owner or an admin.

Each change is audited in the caller's transaction and applies to the very next query: permissions are
read inside every search (`readable_by`), the in-memory indexes' masks follow SQLite's permission counter
(migration 0008 adds user shares and tags to it), and the answer cache's key holds each readable
document's `updated_at`, which every change here sets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from docent.auth.audit import RequestContext, record
from docent.auth.policy import Principal, ensure_can_modify_document
from docent.db.tables import Document
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.service import DocumentService, Visibility, check_groups, normalise_tags

MAX_TITLE_CHARS = 500
MAX_GROUPS = 100


@dataclass(frozen=True)
class DocumentChanges:
    """What a PATCH asks to change; None leaves a field as it is."""

    title: str | None = None
    tags: tuple[str, ...] | None = None
    visibility: Visibility | None = None
    group_ids: tuple[uuid.UUID, ...] | None = None


class SharingService:
    def __init__(self, documents: DocumentService) -> None:
        self._documents = documents

    def update(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document_id: uuid.UUID,
        changes: DocumentChanges,
        context: RequestContext,
    ) -> Document:
        """Apply `changes` (all or nothing) and audit what changed, before and after."""
        document = self._modifiable(uow, principal, document_id)
        before = _sharing_view(document)
        visibility = changes.visibility or Visibility(document.visibility)
        group_ids = _groups_after(document, visibility, changes)
        check_groups(uow, principal, visibility, group_ids)
        if changes.title is not None:
            title = changes.title.strip()
            if not title or len(title) > MAX_TITLE_CHARS:
                raise DocentError(
                    ErrorCode.VALIDATION_ERROR, f"A title has 1 to {MAX_TITLE_CHARS} characters."
                )
            document.title = title
        if changes.tags is not None:
            uow.documents.set_tags(document, list(normalise_tags(list(changes.tags))))
        document.visibility = visibility.value
        if sorted(group_ids) != document.group_ids:
            uow.documents.set_shares(document, list(group_ids))
        after = _sharing_view(document)
        changed = {
            name: {"from": before[name], "to": after[name]} for name in after if before[name] != after[name]
        }
        if changed:
            document.updated_at = datetime.now(UTC)
            self._audit(uow, principal, context, "document.update", document.id, changed)
        uow.flush()
        return document

    def share(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document_id: uuid.UUID,
        user_id: uuid.UUID,
        context: RequestContext,
    ) -> Document:
        """Share with one user of the organisation, whatever the document's visibility (twice: no change)."""
        document = self._modifiable(uow, principal, document_id)
        if uow.users.get_in_org(principal.org_id, user_id) is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND)
        if uow.documents.share_with_user(document, user_id):
            document.updated_at = datetime.now(UTC)
            self._audit(uow, principal, context, "document.share", document.id, {"user_id": str(user_id)})
        uow.flush()
        return document

    def unshare(
        self,
        uow: UnitOfWork,
        principal: Principal,
        document_id: uuid.UUID,
        user_id: uuid.UUID,
        context: RequestContext,
    ) -> None:
        document = self._modifiable(uow, principal, document_id)
        if not uow.documents.unshare_with_user(document, user_id):
            raise DocentError(ErrorCode.NOT_FOUND, "The document is not shared with this user.")
        document.updated_at = datetime.now(UTC)
        self._audit(uow, principal, context, "document.unshare", document.id, {"user_id": str(user_id)})
        uow.flush()

    def _modifiable(self, uow: UnitOfWork, principal: Principal, document_id: uuid.UUID) -> Document:
        """The document, if the caller may read it (else 404) and change it (else 403), locked for this
        transaction first: two changes of its tags or shares at once take turns, the second reading what the
        first committed, instead of both inserting the same rows."""
        document = self._documents.get(uow, principal, document_id, for_update=True)
        ensure_can_modify_document(principal, document.owner_id)
        return document

    def _audit(
        self,
        uow: UnitOfWork,
        principal: Principal,
        context: RequestContext,
        action: str,
        document_id: uuid.UUID,
        details: dict[str, Any],
    ) -> None:
        record(
            uow,
            context,
            action,
            org_id=principal.org_id,
            actor_id=principal.user_id,
            target_type="document",
            target_id=document_id,
            details=details,
        )


def _sharing_view(document: Document) -> dict[str, Any]:
    return {
        "title": document.title,
        "tags": document.tags,
        "visibility": document.visibility,
        "group_ids": [str(g) for g in document.group_ids],
    }


def _groups_after(
    document: Document, visibility: Visibility, changes: DocumentChanges
) -> tuple[uuid.UUID, ...]:
    """The groups once changed: those given, else the current ones while the visibility stays `group`
    (groups mean nothing for another visibility, so leaving `group` drops them)."""
    if changes.group_ids is not None:
        if len(changes.group_ids) > MAX_GROUPS:
            raise DocentError(ErrorCode.VALIDATION_ERROR, f"At most {MAX_GROUPS} groups.")
        return tuple(sorted(set(changes.group_ids)))
    return tuple(document.group_ids) if visibility is Visibility.GROUP else ()
