from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select, update
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

    def touch(self, key_id: uuid.UUID, now: datetime, *, unless_since: datetime) -> None:
        """Set the key's last use to `now`, unless it was set at or after `unless_since` (by another
        process, say): one short UPDATE that writes nothing then."""
        self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_since),
            )
            .values(last_used_at=now)
        )

    def revoke_all_for_user(self, user_id: uuid.UUID, at: datetime) -> int:
        """Revoke every live key of the user; how many there were."""
        result = self.session.execute(
            update(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)
