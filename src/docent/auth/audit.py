"""Audit trail: who did what to which object, from where."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from docent.auth.policy import Principal, ensure_admin
from docent.db.tables import AuditEvent
from docent.db.tables import AuditEvent as AuditEventRow
from docent.db.uow import UnitOfWork
from docent.types import Page, PageRequest


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from; given by the HTTP layer or the CLI."""

    ip: str | None = None
    request_id: str | None = None


CLI_CONTEXT = RequestContext(ip=None, request_id="cli")


def record(
    uow: UnitOfWork,
    context: RequestContext,
    action: str,
    *,
    org_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an event to the caller's transaction: it commits, or rolls back, with the action itself."""
    uow.audit.add(
        AuditEvent(
            org_id=org_id,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=str(target_id) if target_id is not None else None,
            ip=context.ip,
            request_id=context.request_id,
            details=details or {},
        )
    )


class AuditService:
    def list(
        self, uow: UnitOfWork, actor: Principal, page: PageRequest, action: str | None = None
    ) -> Page[AuditEventRow]:
        ensure_admin(actor)
        return uow.audit.page(actor.org_id, page, action=action)
