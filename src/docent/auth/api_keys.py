"""API keys for integrations: the secret is returned once and only its hash is kept."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.policy import Principal
from docent.auth.tokens import new_api_key
from docent.db.tables import ApiKey
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode


@dataclass(frozen=True)
class CreatedApiKey:
    record: ApiKey
    secret: str


class ApiKeyService:
    def create(self, uow: UnitOfWork, actor: Principal, name: str, context: RequestContext) -> CreatedApiKey:
        generated = new_api_key()
        record = uow.api_keys.add(
            ApiKey(
                id=uuid.uuid4(),
                org_id=actor.org_id,
                user_id=actor.user_id,
                name=name.strip(),
                prefix=generated.prefix,
                key_hash=generated.key_hash,
            )
        )
        uow.flush()
        audit.record(
            uow,
            context,
            "api_key.created",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="api_key",
            target_id=record.id,
            details={"prefix": record.prefix},
        )
        return CreatedApiKey(record=record, secret=generated.secret)

    def list(self, uow: UnitOfWork, actor: Principal) -> list[ApiKey]:
        return uow.api_keys.list_for_user(actor.user_id)

    def revoke(self, uow: UnitOfWork, actor: Principal, key_id: uuid.UUID, context: RequestContext) -> None:
        key = uow.api_keys.get_for_user(actor.user_id, key_id)
        if key is None or key.revoked_at is not None:
            raise DocentError(ErrorCode.API_KEY_NOT_FOUND)
        key.revoked_at = datetime.now(UTC)
        audit.record(
            uow,
            context,
            "api_key.revoked",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="api_key",
            target_id=key.id,
            details={"prefix": key.prefix},
        )
