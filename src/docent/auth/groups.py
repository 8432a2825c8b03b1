"""Groups of users inside one organisation, used to share documents."""

from __future__ import annotations

import uuid

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.policy import Principal, ensure_admin, reader_scope
from docent.db.tables import Group
from docent.db.uow import UnitOfWork, WriteConflictError
from docent.errors import DocentError, ErrorCode
from docent.types import Page, PageRequest, ReaderScope


def scope_of(uow: UnitOfWork, principal: Principal) -> ReaderScope:
    """What `principal` may read, with their groups as they are in `uow`. The one place a scope is resolved
    (one query); a request resolves it once and passes it down."""
    return reader_scope(principal, uow.groups.group_ids_of(principal.user_id))


class GroupService:
    def create(
        self, uow: UnitOfWork, actor: Principal, name: str, description: str | None, context: RequestContext
    ) -> Group:
        ensure_admin(actor)
        name = name.strip()
        taken = DocentError(ErrorCode.GROUP_NAME_TAKEN, "A group with this name already exists.")
        if uow.groups.by_name(actor.org_id, name) is not None:
            raise taken
        group = Group(id=uuid.uuid4(), org_id=actor.org_id, name=name, description=description)
        group.memberships = []
        try:
            with uow.savepoint():
                uow.groups.add(group)
                uow.flush()
        except WriteConflictError:
            # Another transaction added this name between the check and the insert: as if it came first.
            if uow.groups.by_name(actor.org_id, name) is not None:
                raise taken from None
            raise
        audit.record(
            uow,
            context,
            "group.created",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="group",
            target_id=group.id,
        )
        return group

    def list(self, uow: UnitOfWork, actor: Principal, page: PageRequest) -> Page[Group]:
        ensure_admin(actor)
        return uow.groups.page(actor.org_id, page)

    def get(self, uow: UnitOfWork, actor: Principal, group_id: uuid.UUID) -> Group:
        ensure_admin(actor)
        return self._get(uow, actor, group_id)

    def delete(self, uow: UnitOfWork, actor: Principal, group_id: uuid.UUID, context: RequestContext) -> None:
        ensure_admin(actor)
        group = self._get(uow, actor, group_id)
        uow.groups.delete(group)
        audit.record(
            uow,
            context,
            "group.deleted",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="group",
            target_id=group_id,
            details={"name": group.name},
        )

    def add_member(
        self,
        uow: UnitOfWork,
        actor: Principal,
        group_id: uuid.UUID,
        user_id: uuid.UUID,
        context: RequestContext,
    ) -> Group:
        ensure_admin(actor)
        group = self._get(uow, actor, group_id)
        if uow.users.get_in_org(actor.org_id, user_id) is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND)
        if uow.groups.membership(group_id, user_id) is None:
            try:
                with uow.savepoint():
                    group.memberships.append(uow.groups.add_member(group_id, user_id))
                    uow.flush()
            except WriteConflictError:
                # Another request added them at the same moment: the same answer as a repeated request.
                if uow.groups.membership(group_id, user_id) is None:
                    raise
                return group
            audit.record(
                uow,
                context,
                "group.member_added",
                org_id=actor.org_id,
                actor_id=actor.user_id,
                target_type="group",
                target_id=group_id,
                details={"user_id": str(user_id)},
            )
        return group

    def remove_member(
        self,
        uow: UnitOfWork,
        actor: Principal,
        group_id: uuid.UUID,
        user_id: uuid.UUID,
        context: RequestContext,
    ) -> None:
        ensure_admin(actor)
        self._get(uow, actor, group_id)
        membership = uow.groups.membership(group_id, user_id)
        if membership is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND, "The user is not a member of this group.")
        uow.groups.remove_member(membership)
        audit.record(
            uow,
            context,
            "group.member_removed",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="group",
            target_id=group_id,
            details={"user_id": str(user_id)},
        )

    def _get(self, uow: UnitOfWork, actor: Principal, group_id: uuid.UUID) -> Group:
        group = uow.groups.get_in_org(actor.org_id, group_id)
        if group is None:
            raise DocentError(ErrorCode.GROUP_NOT_FOUND)
        return group
