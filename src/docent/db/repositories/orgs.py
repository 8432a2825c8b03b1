from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.tables import Organization


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, org: Organization) -> Organization:
        self.session.add(org)
        return org

    def get(self, org_id: uuid.UUID) -> Organization | None:
        return self.session.get(Organization, org_id)

    def by_slug(self, slug: str) -> Organization | None:
        return self.session.scalar(select(Organization).where(Organization.slug == slug))

    def first(self) -> Organization | None:
        return self.session.scalar(select(Organization).order_by(Organization.created_at).limit(1))
