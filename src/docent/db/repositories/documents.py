"""Documents, their versions, tags and group shares, and the permission filter for readers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from docent.db.repositories._paging import paginate
from docent.db.tables import Document, DocumentShare, DocumentTag, DocumentUserShare, DocumentVersion
from docent.types import Page, PageRequest, ReaderScope, VersionStatus

SORTS: dict[str, Any] = {
    "created_at": Document.created_at.asc(),
    "-created_at": Document.created_at.desc(),
    "updated_at": Document.updated_at.asc(),
    "-updated_at": Document.updated_at.desc(),
    "title": Document.title.asc(),
    "-title": Document.title.desc(),
}


@dataclass(frozen=True)
class DocumentFilters:
    status: VersionStatus | None = None
    tag: str | None = None
    owner_id: uuid.UUID | None = None
    title_contains: str | None = None
    sort: str = "-created_at"


def readable_by(scope: ReaderScope) -> ColumnElement[bool]:
    """Live documents of the reader's organisation that the reader may open: all of them for an admin;
    otherwise those shared with the organisation, the reader's own, those shared with one of the reader's
    groups (visibility `group`), and those shared with the reader alone (whatever their visibility)."""
    live = and_(Document.org_id == scope.org_id, Document.deleted_at.is_(None))
    if scope.is_admin:
        return live
    shared = (
        exists()
        .where(DocumentShare.document_id == Document.id, DocumentShare.group_id.in_(scope.group_ids))
        .correlate(Document)
        if scope.group_ids
        else false()
    )
    shared_with_reader = (
        exists()
        .where(DocumentUserShare.document_id == Document.id, DocumentUserShare.user_id == scope.user_id)
        .correlate(Document)
    )
    return and_(
        live,
        or_(
            Document.visibility == "org",
            Document.owner_id == scope.user_id,
            and_(Document.visibility == "group", shared),
            shared_with_reader,
        ),
    )


def latest_version_join() -> ColumnElement[bool]:
    return and_(DocumentVersion.document_id == Document.id, DocumentVersion.number == Document.latest_version)


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, document: Document) -> Document:
        self.session.add(document)
        return document

    def add_version(self, version: DocumentVersion) -> DocumentVersion:
        self.session.add(version)
        return version

    def set_tags(self, document: Document, tags: list[str]) -> None:
        document.tag_rows = [DocumentTag(document_id=document.id, tag=tag) for tag in sorted(set(tags))]

    def set_shares(self, document: Document, group_ids: list[uuid.UUID]) -> None:
        document.shares = [DocumentShare(document_id=document.id, group_id=g) for g in sorted(set(group_ids))]

    def share_with_user(self, document: Document, user_id: uuid.UUID) -> bool:
        """Whether the share is new (sharing twice changes nothing)."""
        if user_id in document.shared_with:
            return False
        document.user_shares.append(DocumentUserShare(document_id=document.id, user_id=user_id))
        return True

    def unshare_with_user(self, document: Document, user_id: uuid.UUID) -> bool:
        """Whether there was such a share."""
        kept = [share for share in document.user_shares if share.user_id != user_id]
        removed = len(kept) != len(document.user_shares)
        document.user_shares = kept
        return removed

    def get(self, document_id: uuid.UUID, *, with_deleted: bool = False) -> Document | None:
        query = select(Document).where(Document.id == document_id).options(*_eager())
        if not with_deleted:
            query = query.where(Document.deleted_at.is_(None))
        return self.session.scalar(query)

    def get_readable(
        self, scope: ReaderScope, document_id: uuid.UUID, *, for_update: bool = False
    ) -> Document | None:
        """The document if the reader may read it; `for_update` locks it until the transaction ends
        (PostgreSQL; SQLite's write lock already is)."""
        query = select(Document).where(Document.id == document_id, readable_by(scope)).options(*_eager())
        return self.session.scalar(query.with_for_update() if for_update else query)

    def page(self, scope: ReaderScope, filters: DocumentFilters, request: PageRequest) -> Page[Document]:
        query = (
            select(Document)
            .where(readable_by(scope))
            .options(*_eager())
            .order_by(SORTS[filters.sort], Document.id)
        )
        if filters.status:
            query = query.join(DocumentVersion, latest_version_join()).where(
                DocumentVersion.status == filters.status
            )
        if filters.tag:
            query = query.where(
                exists().where(DocumentTag.document_id == Document.id, DocumentTag.tag == filters.tag)
            )
        if filters.owner_id:
            query = query.where(Document.owner_id == filters.owner_id)
        if filters.title_contains:
            pattern = "%" + filters.title_contains.lower().replace("%", r"\%").replace("_", r"\_") + "%"
            query = query.where(func.lower(Document.title).like(pattern, escape="\\"))
        return paginate(self.session, query, request)

    def readable_versions(self, scope: ReaderScope) -> list[tuple[str, str | None, int, str]]:
        """(id, indexed version id, latest version number, last change) of every document the reader may
        read, in no particular order: one query over the documents table alone. Any upload, new version,
        indexing, deletion, change of who may read, or of a title or tags (`updated_at`, which sharing
        changes set) changes this list for every reader it concerns. Read as text (through Core, no ORM
        rows): building UUID objects would cost several times the query."""
        query = select(
            cast(Document.id, String),
            cast(Document.indexed_version_id, String),
            Document.latest_version,
            cast(Document.updated_at, String),
        ).where(readable_by(scope))
        return [(row[0], row[1], row[2], row[3]) for row in self.session.connection().execute(query)]

    def live_duplicate(self, scope: ReaderScope, sha256: str) -> Document | None:
        """A live document the reader may open whose latest version has exactly this content.

        Documents the reader may not open are never answered: that would reveal they exist."""
        query = (
            select(Document)
            .join(DocumentVersion, latest_version_join())
            .where(readable_by(scope), DocumentVersion.sha256 == sha256)
            .options(*_eager())
            .limit(1)
        )
        return self.session.scalar(query)

    def lock(self, document_id: uuid.UUID) -> Document | None:
        """The document, locked until the transaction ends (PostgreSQL; SQLite's write lock already is)."""
        query = select(Document).where(Document.id == document_id).with_for_update().options(*_eager())
        return self.session.scalar(query)

    def version(self, version_id: uuid.UUID) -> DocumentVersion | None:
        return self.session.get(DocumentVersion, version_id)

    def live_from_source(self, org_id: uuid.UUID, owner_id: uuid.UUID, prefix: str) -> list[Document]:
        """The owner's live documents whose source URL starts with `prefix` (a synced folder's URL)."""
        query = (
            select(Document)
            .where(
                Document.org_id == org_id,
                Document.owner_id == owner_id,
                Document.deleted_at.is_(None),
                Document.source_url.startswith(prefix, autoescape=True),
            )
            .options(*_eager())
        )
        return list(self.session.scalars(query))

    def latest_version(self, document: Document) -> DocumentVersion:
        return next(v for v in document.versions if v.number == document.latest_version)

    def soft_delete(self, document: Document, at: datetime) -> None:
        document.deleted_at = at

    def delete(self, document: Document) -> None:
        self.session.delete(document)

    def storage_key_in_use(self, sha256: str) -> bool:
        return bool(self.session.scalar(select(exists().where(DocumentVersion.sha256 == sha256))))

    def all_storage_keys(self) -> set[str]:
        return set(self.session.scalars(select(DocumentVersion.sha256).distinct()))


def _eager() -> list[Any]:
    return [
        selectinload(Document.versions),
        selectinload(Document.tag_rows),
        selectinload(Document.shares),
        selectinload(Document.user_shares),
    ]
