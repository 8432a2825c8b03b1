"""Response and request shapes shared by several routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from docent.types import Page

T = TypeVar("T")


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to act on and a message to show."""

    code: str = Field(description="Stable, machine-readable: `not_authenticated`, `document_not_found`, ...")
    message: str = Field(description="For people; may change between versions")
    details: Any = Field(
        default=None, description="More, for some codes: e.g. each invalid field (`validation_error`)"
    )


class ErrorOut(BaseModel):
    """Every error of the API, whatever the route and status."""

    error: ErrorDetail = Field(description="The error")


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T] = Field(description="This page's items")
    total: int = Field(description="Items of the whole list")
    page: int = Field(description="This page's number, from 1")
    page_size: int = Field(description="Items per page asked for")


def page_out(page: Page[Any], item_model: type[BaseModel]) -> dict[str, Any]:
    return {
        "items": [item_model.model_validate(item) for item in page.items],
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
    }


class OrmModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(OrmModel):
    """A user of the organisation."""

    id: uuid.UUID
    org_id: uuid.UUID = Field(description="The organisation; users never see another's data")
    email: str
    full_name: str | None
    role: str = Field(description="`admin` or `member`")
    is_active: bool = Field(description="False once deactivated: the user can no longer sign in")
    created_at: datetime
    last_login_at: datetime | None
