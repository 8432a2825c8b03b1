"""Who may do what. Pure: no I/O, decisions from the principal and the target alone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from docent.errors import DocentError, ErrorCode
from docent.types import Role


class CredentialKind(StrEnum):
    ACCESS_TOKEN = "access_token"  # noqa: S105
    API_KEY = "api_key"


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

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def ensure_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise DocentError(ErrorCode.FORBIDDEN, "This action needs the admin role.")


def ensure_same_org(principal: Principal, org_id: uuid.UUID, not_found: ErrorCode) -> None:
    """Another organisation's objects do not exist for the caller: 404, never 403."""
    if principal.org_id != org_id:
        raise DocentError(not_found)
