"""User management inside one organisation, and the first admin of a new installation."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.passwords import PasswordHasher
from docent.auth.policy import Principal, ensure_admin
from docent.auth.service import normalize_email
from docent.db.tables import Organization, User
from docent.db.uow import UnitOfWork, WriteConflictError
from docent.errors import DocentError, ErrorCode
from docent.types import Page, PageRequest, Role

DEFAULT_ORG_SLUG = "default"


@dataclass(frozen=True)
class UserChanges:
    role: Role | None = None
    is_active: bool | None = None
    full_name: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class BootstrapResult:
    user: User
    generated_password: str | None  # set only when Docent chose the password and must show it once


class UserService:
    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher

    def create(
        self,
        uow: UnitOfWork,
        actor: Principal,
        email: str,
        password: str,
        role: Role,
        context: RequestContext,
        full_name: str | None = None,
    ) -> User:
        ensure_admin(actor)
        password_hash = self._hasher.hash(password)  # before the first statement takes SQLite's write lock
        user = self._add_user(uow, actor.org_id, email, password_hash, role, full_name)
        audit.record(
            uow,
            context,
            "user.created",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="user",
            target_id=user.id,
            details={"role": role.value},
        )
        return user

    def profile(self, uow: UnitOfWork, actor: Principal) -> User:
        user = uow.users.get(actor.user_id)
        if user is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND)
        return user

    def list(
        self,
        uow: UnitOfWork,
        actor: Principal,
        page: PageRequest,
        role: Role | None = None,
        active: bool | None = None,
    ) -> Page[User]:
        ensure_admin(actor)
        return uow.users.page(actor.org_id, page, role=role.value if role else None, active=active)

    def get(self, uow: UnitOfWork, actor: Principal, user_id: uuid.UUID) -> User:
        ensure_admin(actor)
        return self._get(uow, actor, user_id)

    def update(
        self,
        uow: UnitOfWork,
        actor: Principal,
        user_id: uuid.UUID,
        changes: UserChanges,
        context: RequestContext,
    ) -> User:
        ensure_admin(actor)
        # Hashed before the first statement takes SQLite's write lock: a hash takes seconds under load.
        new_hash = None if changes.password is None else self._hasher.hash(changes.password)
        user = self._get(uow, actor, user_id)
        changed: dict[str, object] = {}
        losing_admin = (
            changes.role is not None and changes.role is not Role.ADMIN
        ) or changes.is_active is False
        if (
            losing_admin
            and user.role == Role.ADMIN
            and user.is_active
            and uow.users.count_active_admins(user.org_id) <= 1
        ):
            raise DocentError(ErrorCode.LAST_ADMIN, "The organisation must keep at least one active admin.")
        if changes.role is not None and changes.role.value != user.role:
            user.role = changes.role.value
            changed["role"] = changes.role.value
        if changes.full_name is not None:
            user.full_name = changes.full_name
            changed["full_name"] = True
        if new_hash is not None:
            user.password_hash = new_hash
            uow.tokens.revoke_all_for_user(user.id, "password_changed", datetime.now(UTC))
            changed["password"] = True
        if changes.is_active is not None and changes.is_active != user.is_active:
            user.is_active = changes.is_active
            changed["is_active"] = changes.is_active
            if not changes.is_active:
                # Durably: reactivation restores the account, never the credentials it had.
                now = datetime.now(UTC)
                uow.tokens.revoke_all_for_user(user.id, "deactivated", now)
                changed["api_keys_revoked"] = uow.api_keys.revoke_all_for_user(user.id, now)
        if changed:
            action = "user.deactivated" if changed.get("is_active") is False else "user.updated"
            audit.record(
                uow,
                context,
                action,
                org_id=actor.org_id,
                actor_id=actor.user_id,
                target_type="user",
                target_id=user.id,
                details=changed,
            )
        uow.flush()
        return user

    def deactivate(
        self, uow: UnitOfWork, actor: Principal, user_id: uuid.UUID, context: RequestContext
    ) -> User:
        return self.update(uow, actor, user_id, UserChanges(is_active=False), context)

    def bootstrap_admin(self, uow: UnitOfWork, email: str, password: str | None) -> BootstrapResult | None:
        """Create the default organisation and its first admin, once, on an empty installation."""
        if uow.users.count() > 0:
            return None
        generated = None
        if not password:
            generated = password = secrets.token_urlsafe(18)
        password_hash = self._hasher.hash(password)
        org = _organization(uow, DEFAULT_ORG_SLUG, "Default")
        try:
            user = self._add_user(uow, org.id, email, password_hash, Role.ADMIN, None)
        except DocentError as error:
            if error.code is not ErrorCode.EMAIL_TAKEN:
                raise
            return None  # another process starting at the same moment made the first admin
        audit.record(
            uow,
            audit.CLI_CONTEXT,
            "user.bootstrap_admin",
            org_id=org.id,
            actor_id=None,
            target_type="user",
            target_id=user.id,
        )
        return BootstrapResult(user=user, generated_password=generated)

    def create_in_org(self, uow: UnitOfWork, org_slug: str, email: str, password: str, role: Role) -> User:
        """Operator path (CLI): create a user, and the organisation if it does not exist yet."""
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,99}", org_slug):
            raise DocentError(
                ErrorCode.BAD_REQUEST, "An organisation slug is lowercase letters, digits and '-'."
            )
        password_hash = self._hasher.hash(password)
        org = _organization(uow, org_slug, org_slug)
        user = self._add_user(uow, org.id, email, password_hash, role, None)
        audit.record(
            uow,
            audit.CLI_CONTEXT,
            "user.created",
            org_id=org.id,
            actor_id=None,
            target_type="user",
            target_id=user.id,
            details={"role": role.value},
        )
        return user

    def _add_user(
        self,
        uow: UnitOfWork,
        org_id: uuid.UUID,
        email: str,
        password_hash: str,
        role: Role,
        full_name: str | None,
    ) -> User:
        email = normalize_email(email)
        taken = DocentError(ErrorCode.EMAIL_TAKEN, "A user with this email already exists.")
        if uow.users.by_email(email, org_id):
            raise taken
        user = User(
            id=uuid.uuid4(),
            org_id=org_id,
            email=email,
            full_name=full_name,
            password_hash=password_hash,
            role=role.value,
            is_active=True,
        )
        try:
            with uow.savepoint():
                uow.users.add(user)
                uow.flush()
        except WriteConflictError:
            # Another transaction added this email between the check and the insert (PostgreSQL; SQLite's
            # write lock keeps the two apart): the same answer as when it came first.
            if uow.users.by_email(email, org_id):
                raise taken from None
            raise
        return user

    def _get(self, uow: UnitOfWork, actor: Principal, user_id: uuid.UUID) -> User:
        user = uow.users.get_in_org(actor.org_id, user_id)
        if user is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND)
        return user


def _organization(uow: UnitOfWork, slug: str, name: str) -> Organization:
    """The organisation `slug`, made here if it does not exist (or by another transaction at that moment)."""
    org = uow.orgs.by_slug(slug)
    if org is not None:
        return org
    try:
        with uow.savepoint():
            org = uow.orgs.add(Organization(id=uuid.uuid4(), name=name, slug=slug))
            uow.flush()
    except WriteConflictError:
        org = uow.orgs.by_slug(slug)
        if org is None:
            raise
    return org
