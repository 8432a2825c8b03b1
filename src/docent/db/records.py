"""Tables of what people did: conversations and their messages, feedback on answers, which chunks were shown
to whom, and the budgets that bound model spending. The rest of the schema is `docent.db.tables`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from docent.db.column_types import UTCDateTime
from docent.db.tables import Base, created_now, utcnow, uuid_key


class ChatSession(Base):
    """One conversation of one user."""

    __tablename__ = "chat_sessions"
    __table_args__ = (Index("ix_chat_sessions_user_updated", "user_id", "updated_at"),)

    id: Mapped[uuid.UUID] = uuid_key()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_now()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ChatMessage(Base):
    """A question (`user`) or an answer (`assistant`) with what it cost. `cost_usd` is a decimal string
    (None: unknown), so money is never rounded through a float on either database."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_session_created", "session_id", "created_at"),
        Index("ix_chat_messages_created", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_key()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    provider: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[str | None] = mapped_column(String(40))
    retrieval_ms: Mapped[int | None] = mapped_column(Integer)
    generation_ms: Mapped[int | None] = mapped_column(Integer)
    rewritten_question: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_now()


class Feedback(Base):
    """One rating per user per message; a second one replaces the first."""

    __tablename__ = "feedback"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    rating: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = created_now()


class AccessRecord(Base):
    """One chunk shown to one caller: who, when, through which route, of which document version.

    Written in batches after the response (`docent.access`); old rows are pruned by age. No foreign keys to
    the chunk or version: the record must outlive them (a purged document was still shown)."""

    __tablename__ = "access_records"
    __table_args__ = (
        Index("ix_access_records_org_document_at", "org_id", "document_id", "shown_at"),
        Index("ix_access_records_org_user_at", "org_id", "user_id", "shown_at"),
        Index("ix_access_records_shown_at", "shown_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    route: Mapped[str] = mapped_column(String(100))
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int | None] = mapped_column(Integer)
    chunk_id: Mapped[int | None] = mapped_column(BigInteger)
    shown_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Budget(Base):
    """An admin's cap on what answers may spend on models in a calendar month (UTC): the organisation's
    (`user_id` null) or one member's. A null cap is no cap; `max_cost_usd` is a decimal string (USD)."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("org_id", "user_id", name="uq_budgets_org_user"),)

    id: Mapped[uuid.UUID] = uuid_key()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    max_cost_usd: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = created_now()


class BudgetReservation(Base):
    """What one answer in progress may still spend on models, held against its member's and organisation's
    budgets from just before a model is asked until the answer is kept (then its real usage counts instead).
    Past `expires_at` it no longer counts: a process that died mid-answer does not hold the budget for ever.
    `cost_usd` is a decimal string (USD)."""

    __tablename__ = "budget_reservations"
    __table_args__ = (Index("ix_budget_reservations_org_expires", "org_id", "expires_at"),)

    id: Mapped[uuid.UUID] = uuid_key()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_now()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
