from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from docent.types import Page, PageRequest

T = TypeVar("T")


def paginate(session: Session, query: Select[T], request: PageRequest) -> Page[T]:
    """Run `query` for one page and count all its rows (the count ignores ORDER BY)."""
    count_query: Select[Any] = select(func.count()).select_from(query.order_by(None).subquery())
    total = session.scalar(count_query) or 0
    items = list(session.scalars(query.offset(request.offset).limit(request.page_size)))
    return Page(items=items, total=total, page=request.page, page_size=request.page_size)
