"""Who may do what. Pure: no I/O, decisions from the principal and the target alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from docent.errors import DocentError, ErrorCode
from docent.types import ReaderScope, Role


class CredentialKind(StrEnum):
    ACCESS_TOKEN = "access_token"  # noqa: S105
    API_KEY = "api_key"
    COMMAND_LINE = "command_line"  # an operator on the machine, acting as a named user


class Scope(StrEnum):
    """What an API key may do. `read`: search, chat and everything that only reads; `write`: uploads and
    every other change to documents; `admin`: what the admin role allows (without it an admin's key acts
    as a member's). Access tokens are not limited by scopes."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


ALL_SCOPES = frozenset(Scope)
DEFAULT_KEY_SCOPES = frozenset({Scope.READ, Scope.WRITE})


def parse_scopes(stored: str) -> frozenset[Scope]:
    """Scopes as stored (space-separated); an unknown word grants nothing."""
    known = {scope.value for scope in Scope}
    return frozenset(Scope(word) for word in stored.split() if word in known)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    email: str
    role: Role
    credential: CredentialKind
    family_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[Scope] = ALL_SCOPES  # an API key's; everything for any other credential

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN and Scope.ADMIN in self.scopes


def ensure_scope(principal: Principal, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise DocentError(
            ErrorCode.INSUFFICIENT_SCOPE,
            f"This API key lacks the scope '{scope.value}' this request needs.",
            details={"required_scope": scope.value},
        )


def ensure_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise DocentError(ErrorCode.FORBIDDEN, "This action needs the admin role.")


def ensure_same_org(principal: Principal, org_id: uuid.UUID, not_found: ErrorCode) -> None:
    """Another organisation's objects do not exist for the caller: 404, never 403."""
    if principal.org_id != org_id:
        raise DocentError(not_found)


def reader_scope(principal: Principal, group_ids: list[uuid.UUID]) -> ReaderScope:
    """What the caller may read: applied inside every document and chunk query, before any limit."""
    return ReaderScope(
        org_id=principal.org_id,
        user_id=principal.user_id,
        group_ids=frozenset(group_ids),
        is_admin=principal.is_admin,
    )


def ensure_can_modify_document(principal: Principal, owner_id: uuid.UUID | None) -> None:
    """Owners change their documents; admins change any document of their organisation."""
    if not principal.is_admin and owner_id != principal.user_id:
        raise DocentError(ErrorCode.FORBIDDEN, "Only the document's owner or an admin may change it.")
