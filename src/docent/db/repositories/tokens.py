from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docent.db.tables import RefreshToken, TokenFamily


class TokenRepository:
    """Login sessions (token families) and the refresh tokens rotated within them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_family(self, family: TokenFamily) -> TokenFamily:
        self.session.add(family)
        return family

    def get_family(self, family_id: uuid.UUID) -> TokenFamily | None:
        return self.session.get(TokenFamily, family_id)

    def add_refresh_token(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        return token

    def refresh_token_by_hash(self, token_hash: str) -> RefreshToken | None:
        return self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        )

    def revoke_family(self, family_id: uuid.UUID, reason: str, at: datetime, access_cutoff: int = 0) -> None:
        """End the family's refresh tokens, and its access tokens from rotation `access_cutoff` on."""
        self.session.execute(
            update(TokenFamily)
            .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason, access_cutoff=access_cutoff)
        )

    def revoke_all_for_user(
        self, user_id: uuid.UUID, reason: str, at: datetime, keep_family_id: uuid.UUID | None = None
    ) -> None:
        """End every login session of the user, but `keep_family_id` (the one asking, if any)."""
        query = update(TokenFamily).where(TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None))
        if keep_family_id is not None:
            query = query.where(TokenFamily.id != keep_family_id)
        self.session.execute(query.values(revoked_at=at, revoked_reason=reason, access_cutoff=0))
