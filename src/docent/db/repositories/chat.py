"""Chat sessions, their messages, feedback on answers, and usage sums."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from docent.db.records import ChatMessage, ChatSession, Feedback
from docent.db.repositories._paging import paginate
from docent.db.tables import User, utcnow
from docent.types import Page, PageRequest


@dataclass(frozen=True)
class RatedAnswer:
    """Feedback on an answer, with the answer, the question it answered and who rated it."""

    feedback: Feedback
    answer: ChatMessage
    question: ChatMessage | None
    rated_by: str


class ChatRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_session(self, chat: ChatSession) -> ChatSession:
        self.session.add(chat)
        return chat

    def get_session(self, org_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID) -> ChatSession | None:
        """The session if it is this user's own (another user's session does not exist for them)."""
        return self.session.scalar(
            select(ChatSession).where(
                ChatSession.id == session_id, ChatSession.org_id == org_id, ChatSession.user_id == user_id
            )
        )

    def page_sessions(self, org_id: uuid.UUID, user_id: uuid.UUID, request: PageRequest) -> Page[ChatSession]:
        query = (
            select(ChatSession)
            .where(ChatSession.org_id == org_id, ChatSession.user_id == user_id)
            .order_by(ChatSession.updated_at.desc(), ChatSession.id)
        )
        return paginate(self.session, query, request)

    def delete_session(self, chat: ChatSession) -> None:
        # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
        message_ids = select(ChatMessage.id).where(ChatMessage.session_id == chat.id)
        self.session.execute(delete(Feedback).where(Feedback.message_id.in_(message_ids)))
        self.session.execute(delete(ChatMessage).where(ChatMessage.session_id == chat.id))
        self.session.delete(chat)

    def add_message(self, message: ChatMessage) -> ChatMessage:
        self.session.add(message)
        return message

    def messages(self, session_id: uuid.UUID, *, last: int | None = None) -> list[ChatMessage]:
        """Messages of a session oldest first; with `last`, only the most recent ones."""
        query = select(ChatMessage).where(ChatMessage.session_id == session_id)
        if last is None:
            return list(self.session.scalars(query.order_by(ChatMessage.created_at, ChatMessage.role.desc())))
        recent = list(
            self.session.scalars(query.order_by(ChatMessage.created_at.desc(), ChatMessage.role).limit(last))
        )
        return recent[::-1]

    def get_own_message(
        self, org_id: uuid.UUID, user_id: uuid.UUID, message_id: uuid.UUID
    ) -> ChatMessage | None:
        """A message of one of this user's sessions."""
        return self.session.scalar(
            select(ChatMessage)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .where(ChatMessage.id == message_id, ChatSession.org_id == org_id, ChatSession.user_id == user_id)
        )

    def upsert_feedback(
        self, message_id: uuid.UUID, user_id: uuid.UUID, rating: str, comment: str | None
    ) -> Feedback:
        feedback = self.session.get(Feedback, (message_id, user_id))
        if feedback is None:
            feedback = Feedback(message_id=message_id, user_id=user_id, rating=rating, comment=comment)
            self.session.add(feedback)
        else:
            feedback.rating, feedback.comment, feedback.created_at = rating, comment, utcnow()
        return feedback

    def answers_in(
        self, org_id: uuid.UUID, start: datetime | None, end: datetime | None
    ) -> list[tuple[ChatMessage, str]]:
        """The organisation's answers created in [start, end), each with its asker's email."""
        query = (
            select(ChatMessage, User.email)
            .join(ChatSession, ChatSession.id == ChatMessage.session_id)
            .join(User, User.id == ChatSession.user_id)
            .where(ChatSession.org_id == org_id, ChatMessage.role == "assistant")
            .order_by(ChatMessage.created_at)
        )
        if start is not None:
            query = query.where(ChatMessage.created_at >= start)
        if end is not None:
            query = query.where(ChatMessage.created_at < end)
        return [(message, email) for message, email in self.session.execute(query)]

    def page_feedback(self, org_id: uuid.UUID, rating: str | None, request: PageRequest) -> Page[RatedAnswer]:
        """The organisation's rated answers, newest rating first."""

        def scoped(query: Any) -> Any:  # a Select of any columns
            query = (
                query.join(ChatMessage, ChatMessage.id == Feedback.message_id)
                .join(ChatSession, ChatSession.id == ChatMessage.session_id)
                .join(User, User.id == Feedback.user_id)
                .where(ChatSession.org_id == org_id)
            )
            return query.where(Feedback.rating == rating) if rating else query

        total = self.session.scalar(scoped(select(func.count()).select_from(Feedback))) or 0
        rows = self.session.execute(
            scoped(select(Feedback, ChatMessage, User.email))
            .order_by(Feedback.created_at.desc(), Feedback.message_id)
            .offset(request.offset)
            .limit(request.page_size)
        ).all()
        items = [RatedAnswer(f, answer, self._question_before(answer), email) for f, answer, email in rows]
        return Page(items=items, total=total, page=request.page, page_size=request.page_size)

    def _question_before(self, answer: ChatMessage) -> ChatMessage | None:
        """The question an answer answered: the latest question of its session not after it."""
        return self.session.scalar(
            select(ChatMessage)
            .where(
                ChatMessage.session_id == answer.session_id,
                ChatMessage.role == "user",
                ChatMessage.created_at <= answer.created_at,
            )
            .order_by(ChatMessage.created_at.desc())
            .limit(1)
        )
