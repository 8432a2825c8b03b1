from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.repositories._paging import paginate
from docent.db.tables import AuditEvent
from docent.types import Page, PageRequest


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> AuditEvent:
        self.session.add(event)
        return event

    def page(self, org_id: uuid.UUID, page: PageRequest, *, action: str | None = None) -> Page[AuditEvent]:
        query = (
            select(AuditEvent)
            .where(AuditEvent.org_id == org_id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id)
        )
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return paginate(self.session, query, page)
