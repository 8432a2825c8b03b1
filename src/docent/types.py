"""Small value types shared across layers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class JobStatus(StrEnum):
    """Where a background job is: waiting (or waiting to be retried), held by a worker, or done."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class VersionStatus(StrEnum):
    """Where a document version is on its way to the index (what a document's `status` shows)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"  # indexed
    FAILED = "failed"  # with `error` and, from an adapter, a stable `error_code`


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = 50

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class ReaderScope:
    """Whose documents a query may touch: applied inside every query, before any limit."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    group_ids: frozenset[uuid.UUID]
    is_admin: bool


@dataclass(frozen=True)
class SearchFilters:
    """Narrow a search; every list means "any of", and all given filters must hold."""

    tags: tuple[str, ...] = ()
    document_ids: tuple[uuid.UUID, ...] = ()
    content_types: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


def indexed_text(context: str, text: str) -> str:
    """What is embedded and keyword-indexed for a chunk: its context (the document's title and section
    path), a line break, then its text; the text alone is what is stored and shown."""
    return f"{context}\n{text}" if context else text
