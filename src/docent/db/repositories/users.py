from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docent.db.repositories._paging import paginate
from docent.db.tables import User
from docent.types import Page, PageRequest


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: User) -> User:
        self.session.add(user)
        return user

    def get(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)

    def get_in_org(self, org_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        return self.session.scalar(select(User).where(User.id == user_id, User.org_id == org_id))

    def by_email(self, email: str, org_id: uuid.UUID | None = None) -> list[User]:
        query = select(User).where(User.email == email)
        if org_id is not None:
            query = query.where(User.org_id == org_id)
        return list(self.session.scalars(query))

    def page(
        self, org_id: uuid.UUID, page: PageRequest, *, role: str | None = None, active: bool | None = None
    ) -> Page[User]:
        query = select(User).where(User.org_id == org_id).order_by(User.created_at, User.id)
        if role is not None:
            query = query.where(User.role == role)
        if active is not None:
            query = query.where(User.is_active == active)
        return paginate(self.session, query, page)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(User)) or 0

    def count_active_admins(self, org_id: uuid.UUID) -> int:
        query = select(func.count()).where(User.org_id == org_id, User.role == "admin", User.is_active)
        return self.session.scalar(query) or 0
