"""Small value types shared across layers."""

from __future__ import annotations

import re
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


# Never shown to a reader: C0 and C1 controls (NUL, terminal escapes), the bidirectional formatting
# characters that make "invoice\u202etxt.exe.txt" read as "invoicetxt.exe.txt" backwards, and a stray BOM.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LINE_BREAKS = re.compile("[\t\n\v\f\r\x85\u2028\u2029]+")


def display_text(text: str) -> str:
    """`text` (a title, a file name) as it may be shown to others: one line, no control or bidi characters.

    What is stored stays as it was given; this is applied where a name becomes a title and where it is shown.
    """
    return _UNSHOWN.sub("", _LINE_BREAKS.sub(" ", text)).strip()
