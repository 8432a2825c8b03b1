from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from docent.db.repositories._paging import paginate
from docent.db.tables import Group, GroupMembership
from docent.types import Page, PageRequest


class GroupRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, group: Group) -> Group:
        self.session.add(group)
        return group

    def get_in_org(self, org_id: uuid.UUID, group_id: uuid.UUID) -> Group | None:
        query = (
            select(Group)
            .where(Group.id == group_id, Group.org_id == org_id)
            .options(selectinload(Group.memberships))
        )
        return self.session.scalar(query)

    def by_name(self, org_id: uuid.UUID, name: str) -> Group | None:
        return self.session.scalar(select(Group).where(Group.org_id == org_id, Group.name == name))

    def page(self, org_id: uuid.UUID, page: PageRequest) -> Page[Group]:
        query = (
            select(Group)
            .where(Group.org_id == org_id)
            .order_by(Group.name, Group.id)
            .options(selectinload(Group.memberships))
        )
        return paginate(self.session, query, page)

    def delete(self, group: Group) -> None:
        self.session.delete(group)

    def membership(self, group_id: uuid.UUID, user_id: uuid.UUID) -> GroupMembership | None:
        return self.session.get(GroupMembership, (group_id, user_id))

    def add_member(self, group_id: uuid.UUID, user_id: uuid.UUID) -> GroupMembership:
        membership = GroupMembership(group_id=group_id, user_id=user_id)
        self.session.add(membership)
        return membership

    def remove_member(self, membership: GroupMembership) -> None:
        self.session.delete(membership)

    def group_ids_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        query = select(GroupMembership.group_id).where(GroupMembership.user_id == user_id)
        return list(self.session.scalars(query))
