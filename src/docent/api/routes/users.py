from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, EmailStr, Field

from docent.api.deps import (
    AdminDep,
    ContextDep,
    ReadOnlyDep,
    TransactionDep,
    UserServiceDep,
    require_admin,
)
from docent.api.routes import API_PREFIX
from docent.api.schemas import PageOut, UserOut, page_out
from docent.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from docent.auth.users import UserChanges
from docent.types import PageRequest, Role

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"], dependencies=[Depends(require_admin)])

Password = Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


class UserCreateIn(BaseModel):
    email: EmailStr = Field(max_length=320)
    password: Password
    role: Role = Role.MEMBER
    full_name: str | None = Field(default=None, max_length=200)


class UserUpdateIn(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    full_name: str | None = Field(default=None, max_length=200)
    password: Password | None = None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut, summary="Create a user")
def create_user(
    body: UserCreateIn, admin: AdminDep, users: UserServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
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
    result = users.list(uow, admin, PageRequest(page, page_size), role, is_active)
    return page_out(result, UserOut)


@router.get("/{user_id}", response_model=UserOut, summary="One user")
def get_user(user_id: uuid.UUID, admin: AdminDep, users: UserServiceDep, uow: ReadOnlyDep) -> Any:
    return users.get(uow, admin, user_id)


@router.patch("/{user_id}", response_model=UserOut, summary="Change role, active flag, name or password")
def update_user(
    user_id: uuid.UUID,
    body: UserUpdateIn,
    admin: AdminDep,
    users: UserServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Any:
    changes = UserChanges(
        role=body.role, is_active=body.is_active, full_name=body.full_name, password=body.password
    )
    return users.update(uow, admin, user_id, changes, context)


@router.delete("/{user_id}", response_model=UserOut, summary="Deactivate a user (their tokens and keys stop)")
def deactivate_user(
    user_id: uuid.UUID, admin: AdminDep, users: UserServiceDep, uow: TransactionDep, context: ContextDep
) -> Any:
    return users.deactivate(uow, admin, user_id, context)
