from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, EmailStr, Field, StrictBool

from docent.api.deps import (
    AdminDep,
    ContextDep,
    ReadOnlyDep,
    TransactionDep,
    UserServiceDep,
    require_admin,
)
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.schemas import PageOut, UserOut, page_out
from docent.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from docent.auth.users import UserChanges
from docent.types import PageRequest, Role

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"], dependencies=[Depends(require_admin)])

Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


class UserCreateIn(BaseModel):
    """A new user of the admin's organisation."""

    email: EmailStr = Field(max_length=320, description="Unique in the organisation; the login name")
    password: Password = Field(description=f"At least {MIN_PASSWORD_LENGTH} characters")
    role: Role = Field(default=Role.MEMBER, description="`member` or `admin`")
    full_name: str | None = Field(default=None, max_length=200, description="Shown in lists")


class UserUpdateIn(BaseModel):
    """The changes to make; fields left out stay as they are."""

    role: Role | None = Field(default=None, description="`member` or `admin`")
    is_active: StrictBool | None = Field(default=None, description="False: deactivate; true: reactivate")
    full_name: str | None = Field(default=None, max_length=200, description="Shown in lists")
    password: Password | None = Field(default=None, description="A new password; ends the user's sessions")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    summary="Create a user",
    responses=errors(409),
)
def create_user(
    body: UserCreateIn, admin: AdminDep, users: UserServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
    """Admins only. Creates a user in the admin's organisation (409 `email_taken` if the email is already
    there)."""
    return users.create(uow, admin, body.email, body.password, body.role, context, body.full_name)


@router.get("", response_model=PageOut[UserOut], summary="List the organisation's users")
def list_users(
    admin: AdminDep,
    users: UserServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    role: Role | None = None,
    is_active: bool | None = None,
) -> Any:
    """Admins only. The organisation's users, filtered by role or active flag, a page at a time."""
    result = users.list(uow, admin, PageRequest(page, page_size), role, is_active)
    return page_out(result, UserOut)


@router.get("/{user_id}", response_model=UserOut, summary="One user")
def get_user(user_id: uuid.UUID, admin: AdminDep, users: UserServiceDep, uow: ReadOnlyDep) -> Any:
    """Admins only. One user of the organisation."""
    return users.get(uow, admin, user_id)


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change role, active flag, name or password",
    responses=errors(409),
)
def update_user(
    user_id: uuid.UUID,
    body: UserUpdateIn,
    admin: AdminDep,
    users: UserServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Any:
    """Admins only. Changes only the fields sent. Demoting or deactivating the last active admin is refused
    (409 `last_admin`); a new password ends the user's login sessions."""
    changes = UserChanges(
        role=body.role, is_active=body.is_active, full_name=body.full_name, password=body.password
    )
    return users.update(uow, admin, user_id, changes, context)


@router.delete(
    "/{user_id}",
    response_model=UserOut,
    summary="Deactivate a user (their tokens and keys stop)",
    responses=errors(409),
)
def deactivate_user(
    user_id: uuid.UUID, admin: AdminDep, users: UserServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
    """Admins only. The user can no longer log in; their tokens and API keys stop working at once. Their
    documents stay. Reactivate with PATCH `is_active: true`."""
    return users.deactivate(uow, admin, user_id, context)
