"""What people said about answers, for the organisation's admins."""

from __future__ import annotations

from docent.auth.policy import Principal, ensure_admin
from docent.db.repositories.chat import RatedAnswer
from docent.db.uow import UnitOfWork
from docent.types import Page, PageRequest


class FeedbackService:
    def page(
        self, uow: UnitOfWork, actor: Principal, rating: str | None, request: PageRequest
    ) -> Page[RatedAnswer]:
        """Rated answers of the admin's organisation (`rating`: "up", "down" or None for both)."""
        ensure_admin(actor)
        return uow.chat.page_feedback(actor.org_id, rating, request)
