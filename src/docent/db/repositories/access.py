"""Records of chunks shown: written in batches, read by document or user and time, pruned by age."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from docent.db.records import AccessRecord
from docent.db.tables import Document, User
from docent.types import Page, PageRequest


@dataclass(frozen=True)
class AccessFilters:
    document_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    shown_from: datetime | None = None  # inclusive
    shown_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AccessRow:
    """One record with who (their email) and what (the document's title), when they still exist."""

    record: AccessRecord
    email: str | None
    title: str | None


class AccessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """One multi-row INSERT (executemany) for the whole batch."""
        if rows:
            self.session.execute(insert(AccessRecord), list(rows))

    def page(self, org_id: uuid.UUID, filters: AccessFilters, request: PageRequest) -> Page[AccessRow]:
        conditions = [AccessRecord.org_id == org_id]
        if filters.document_id is not None:
            conditions.append(AccessRecord.document_id == filters.document_id)
        if filters.user_id is not None:
            conditions.append(AccessRecord.user_id == filters.user_id)
        if filters.shown_from is not None:
            conditions.append(AccessRecord.shown_at >= filters.shown_from)
        if filters.shown_to is not None:
            conditions.append(AccessRecord.shown_at < filters.shown_to)
        total = self.session.scalar(select(func.count()).select_from(AccessRecord).where(*conditions)) or 0
        query = (
            select(AccessRecord, User.email, Document.title)
            .outerjoin(User, User.id == AccessRecord.user_id)
            .outerjoin(Document, Document.id == AccessRecord.document_id)
            .where(*conditions)
            .order_by(AccessRecord.shown_at.desc(), AccessRecord.id.desc())
            .offset(request.offset)
            .limit(request.page_size)
        )
        items = [AccessRow(row[0], row[1], row[2]) for row in self.session.execute(query)]
        return Page(items=items, total=total, page=request.page, page_size=request.page_size)

    def prune(self, before: datetime) -> int:
        """Delete records shown before `before`; how many went."""
        result = self.session.execute(delete(AccessRecord).where(AccessRecord.shown_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
