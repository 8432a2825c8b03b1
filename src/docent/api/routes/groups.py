from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from docent.api.deps import (
    AdminDep,
    ContextDep,
    GroupServiceDep,
    ReadOnlyDep,
    TransactionDep,
    require_admin,
)
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.schemas import PageOut, page_out
from docent.db.tables import Group
from docent.types import Page, PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/groups", tags=["groups"], dependencies=[Depends(require_admin)])


class GroupIn(BaseModel):
    """A new group."""

    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description="Unique in the organisation")
    description: str | None = Field(default=None, max_length=1000, description="What the group is for")


class MemberIn(BaseModel):
    """A user to add to the group."""

    user_id: uuid.UUID = Field(description="A user of the organisation")


class GroupOut(BaseModel):
    """A group, whose members read the documents shared with it."""

    id: uuid.UUID
    name: str = Field(description="Unique in the organisation")
    description: str | None = Field(description="What the group is for")
    member_ids: list[uuid.UUID] = Field(description="Its members' user ids")
    created_at: datetime

    @classmethod
    def of(cls, group: Group) -> GroupOut:
        return cls(
            id=group.id,
            name=group.name,
            description=group.description,
            member_ids=sorted(m.user_id for m in group.memberships),
            created_at=group.created_at,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupOut,
    summary="Create a group",
    responses=errors(409),
)
def create_group(
    body: GroupIn, admin: AdminDep, groups: GroupServiceDep, uow: TransactionDep, context: ContextDep
) -> GroupOut:
    """Admins only. Names are unique within the organisation (409 `group_name_taken`)."""
    return GroupOut.of(groups.create(uow, admin, body.name, body.description, context))


@router.get("", response_model=PageOut[GroupOut], summary="List groups")
def list_groups(
    admin: AdminDep,
    groups: GroupServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Any:
    """Admins only. The organisation's groups with their member ids, a page at a time."""
    result = groups.list(uow, admin, PageRequest(page, page_size))
    return page_out(
        Page([GroupOut.of(g) for g in result.items], result.total, result.page, result.page_size), GroupOut
    )


@router.get("/{group_id}", response_model=GroupOut, summary="One group with its members")
def get_group(group_id: uuid.UUID, admin: AdminDep, groups: GroupServiceDep, uow: ReadOnlyDep) -> GroupOut:
    """Admins only. One group with its member ids."""
    return GroupOut.of(groups.get(uow, admin, group_id))


@router.delete("/{group_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a group")
def delete_group(
    group_id: uuid.UUID, admin: AdminDep, groups: GroupServiceDep, uow: TransactionDep, context: ContextDep
) -> None:
    """Admins only. Deletes the group and its memberships: no one reads a document through it any more."""
    groups.delete(uow, admin, group_id, context)


@router.post("/{group_id}/members", response_model=GroupOut, summary="Add a member")
def add_member(
    group_id: uuid.UUID,
    body: MemberIn,
    admin: AdminDep,
    groups: GroupServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> GroupOut:
    """Admins only. Adds a user of the organisation; adding a member again changes nothing."""
    return GroupOut.of(groups.add_member(uow, admin, group_id, body.user_id, context))


@router.delete(
    "/{group_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a member"
)
def remove_member(
    group_id: uuid.UUID,
    user_id: uuid.UUID,
    admin: AdminDep,
    groups: GroupServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> None:
    """Admins only. The user loses access to documents shared with this group alone at once."""
    groups.remove_member(uow, admin, group_id, user_id, context)
