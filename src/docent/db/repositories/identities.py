"""Users' accounts at identity providers (`UserIdentity`), found by the provider's issuer and subject."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.tables import UserIdentity


class IdentityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, identity: UserIdentity) -> UserIdentity:
        self.session.add(identity)
        return identity

    def find(self, issuer: str, subject: str) -> UserIdentity | None:
        query = select(UserIdentity).where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
        return self.session.scalar(query)

    def of_user(self, user_id: uuid.UUID, issuer: str) -> UserIdentity | None:
        query = select(UserIdentity).where(UserIdentity.user_id == user_id, UserIdentity.issuer == issuer)
        return self.session.scalar(query)
