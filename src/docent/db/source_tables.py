"""Tables of site crawls: a source (a start URL and its limits), its runs, and the pages it has ingested.
The rest of the schema is `docent.db.tables`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from docent.db.column_types import UTCDateTime
from docent.db.tables import Base, created_now, uuid_key


class Source(Base):
    """A site to crawl, owned by the member who created it, in one organisation. The documents its runs create
    take `visibility`, `tags` and `group_ids` from here."""

    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_org_created", "org_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_key()
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    start_url: Mapped[str] = mapped_column(String(2000))
    same_host: Mapped[bool] = mapped_column(Boolean, default=True)
    max_depth: Mapped[int] = mapped_column(Integer)
    max_pages: Mapped[int] = mapped_column(Integer)
    include: Mapped[list[str]] = mapped_column(JSON, default=list)  # glob patterns over path and query
    exclude: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # UUIDs as strings
    created_at: Mapped[datetime] = created_now()


class SourceRun(Base):
    """One crawl of a source, done by one job (`job_id`); its page ingests form the batch `batch_id`."""

    __tablename__ = "source_runs"
    __table_args__ = (Index("ix_source_runs_source_created", "source_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_key()
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    batch_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # queued | running | completed | failed
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    pages_new: Mapped[int] = mapped_column(Integer, default=0)
    pages_changed: Mapped[int] = mapped_column(Integer, default=0)
    pages_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    pages_skipped: Mapped[int] = mapped_column(Integer, default=0)  # refused by robots.txt
    pages_removed: Mapped[int] = mapped_column(Integer, default=0)  # answered 404 or 410: soft-deleted
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # {url, code, message}, bounded
    error: Mapped[str | None] = mapped_column(String(2000))  # why the run as a whole failed
    created_at: Mapped[datetime] = created_now()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SourcePage(Base):
    """A page a source has ingested, by its canonical URL: the document its content lives in."""

    __tablename__ = "source_pages"
    __table_args__ = (UniqueConstraint("source_id", "url", name="uq_source_pages_source_url"),)

    id: Mapped[uuid.UUID] = uuid_key()
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
