"""Chat history: the caller's sessions and their messages, feedback on answers, and the usage sums.

Everything here runs in the caller's unit of work (the request's transaction); nothing is committed here.
Asking a question is `docent.answer.service`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from docent.answer.usage import UsageReport
from docent.auth.policy import Principal
from docent.db.records import ChatMessage, ChatSession, Feedback
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.types import Page, PageRequest


class ChatHistory:
    def sessions(self, uow: UnitOfWork, principal: Principal, request: PageRequest) -> Page[ChatSession]:
        return uow.chat.page_sessions(principal.org_id, principal.user_id, request)

    def session(
        self, uow: UnitOfWork, principal: Principal, session_id: uuid.UUID
    ) -> tuple[ChatSession, list[ChatMessage]]:
        chat = self._own_session(uow, principal, session_id)
        return chat, uow.chat.messages(chat.id)

    def delete_session(self, uow: UnitOfWork, principal: Principal, session_id: uuid.UUID) -> None:
        uow.chat.delete_session(self._own_session(uow, principal, session_id))
        uow.flush()

    def rate(
        self, uow: UnitOfWork, principal: Principal, message_id: uuid.UUID, rating: str, comment: str | None
    ) -> Feedback:
        """One rating per user and answer; rating again replaces it."""
        message = uow.chat.get_own_message(principal.org_id, principal.user_id, message_id)
        if message is None or message.role != "assistant":
            raise DocentError(ErrorCode.NOT_FOUND, "No such answer.")
        feedback = uow.chat.upsert_feedback(message.id, principal.user_id, rating, comment)
        uow.flush()
        return feedback

    def usage(
        self, uow: UnitOfWork, principal: Principal, start: datetime | None, end: datetime | None
    ) -> UsageReport:
        """Answers, tokens and cost of the organisation in [start, end), in total and by user, model, day."""
        return UsageReport.of(uow.chat.answers_in(principal.org_id, start, end))

    def _own_session(self, uow: UnitOfWork, principal: Principal, session_id: uuid.UUID) -> ChatSession:
        chat = uow.chat.get_session(principal.org_id, principal.user_id, session_id)
        if chat is None:
            raise DocentError(ErrorCode.NOT_FOUND, "No such chat session.")
        return chat
