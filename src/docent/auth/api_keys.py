"""API keys for integrations: the secret is returned once and only its hash is kept."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache
from sqlalchemy.exc import SQLAlchemyError

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.policy import DEFAULT_KEY_SCOPES, Principal, Scope
from docent.auth.tokens import new_api_key
from docent.db.tables import ApiKey
from docent.db.uow import Database, UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.observability.logs import get_logger

_log = get_logger(__name__)

# An API key's last use is written at most this often, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedApiKey:
    record: ApiKey
    secret: str


MAX_KEY_LIFETIME = timedelta(days=3660)


def check_key_grant(actor: Principal, scopes: frozenset[Scope], expires_at: datetime | None) -> None:
    """A key may have only scopes its maker has (a key never mints a stronger one), `admin` only for an
    admin, and an expiry in the future, within ten years."""
    if not scopes:
        raise DocentError(ErrorCode.VALIDATION_ERROR, "An API key needs at least one scope.")
    if Scope.ADMIN in scopes and not actor.is_admin:
        raise DocentError(ErrorCode.FORBIDDEN, "Only an admin may create a key with the scope 'admin'.")
    if not scopes <= actor.scopes:
        raise DocentError(ErrorCode.INSUFFICIENT_SCOPE, "A key cannot grant scopes its maker lacks.")
    now = datetime.now(UTC)
    if expires_at is not None and not now < expires_at <= now + MAX_KEY_LIFETIME:
        raise DocentError(ErrorCode.BAD_REQUEST, "expires_at is in the future, at most ten years from now.")


class ApiKeyService:
    def create(
        self,
        uow: UnitOfWork,
        actor: Principal,
        name: str,
        context: RequestContext,
        *,
        scopes: frozenset[Scope] = DEFAULT_KEY_SCOPES,
        expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        check_key_grant(actor, scopes, expires_at)
        generated = new_api_key()
        record = uow.api_keys.add(
            ApiKey(
                id=uuid.uuid4(),
                org_id=actor.org_id,
                user_id=actor.user_id,
                name=name.strip(),
                prefix=generated.prefix,
                key_hash=generated.key_hash,
                scopes=" ".join(sorted(scopes)),
                expires_at=expires_at,
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
            details={
                "prefix": record.prefix,
                "scopes": sorted(scopes),
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
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


class KeyUseRecorder:
    """Writes an API key's `last_used_at` apart from the requests that use the key.

    A request that authenticates with a key only reads; this records the use afterwards (the HTTP layer runs
    `record` once the response is sent), in a short write transaction of its own, at most once per key per
    `resolution` in this process (`due`), and the UPDATE itself skips a key another process stamped within
    it. So a GET never takes SQLite's write lock, and never fails with "database is locked" because uploads
    hold it. A failed write is logged, never raised: the timestamp is a hint to the key's owner."""

    def __init__(
        self, database: Database, *, resolution: timedelta = LAST_USED_RESOLUTION, max_keys: int = 10_000
    ) -> None:
        self._database = database
        self._resolution = resolution
        self._lock = threading.Lock()
        self._recent: TTLCache[uuid.UUID, bool] = TTLCache(max_keys, resolution.total_seconds())

    def due(self, key_id: uuid.UUID) -> bool:
        """Whether a use of `key_id` is still to be written in this resolution window."""
        with self._lock:
            return key_id not in self._recent

    def record(self, key_id: uuid.UUID) -> None:
        with self._lock:
            if key_id in self._recent:  # another request of the same window got here first
                return
            self._recent[key_id] = True
        now = datetime.now(UTC)
        try:
            with self._database.unit_of_work() as uow:
                uow.api_keys.touch(key_id, now, unless_since=now - self._resolution)
                uow.commit()
        except SQLAlchemyError as exc:
            _log.warning("api_key_use_not_recorded", key_id=str(key_id), error=type(exc).__name__)
