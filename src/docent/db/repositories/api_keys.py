from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from docent.db.tables import ApiKey


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        return key

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    def get_for_user(self, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))

    def list_for_user(self, user_id: uuid.UUID) -> list[ApiKey]:
        query = (
            select(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return list(self.session.scalars(query))
