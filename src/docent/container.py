"""The one place that picks adapters: everything the app and the CLI need, built from the settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from docent.auth.api_keys import ApiKeyService
from docent.auth.audit import AuditService
from docent.auth.groups import GroupService
from docent.auth.passwords import PasswordHasher
from docent.auth.service import AuthService
from docent.auth.throttle import LoginThrottle
from docent.auth.tokens import AccessTokenCodec
from docent.auth.users import UserService
from docent.config import Settings
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.uow import Database
from docent.observability.logs import get_logger


@dataclass
class Container:
    settings: Settings
    database: Database
    auth: AuthService
    users: UserService
    groups: GroupService
    api_keys: ApiKeyService
    audit: AuditService

    def readiness(self) -> dict[str, str]:
        """Each dependency the service needs, and whether it answers (\"ok\" or what is wrong)."""
        try:
            self.database.ping()
            database = "ok" if migrate.is_up_to_date(self.database.engine) else "migrations pending"
        except Exception as exc:  # readiness reports any failure, whatever its type
            database = f"unreachable ({type(exc).__name__})"
        return {"database": database}

    def close(self) -> None:
        self.database.dispose()


def build_container(settings: Settings) -> Container:
    settings.check_secret_key()
    database = Database(build_engine(settings.database_url))
    hasher = PasswordHasher()
    codec = AccessTokenCodec(_signing_key(settings), timedelta(minutes=settings.access_token_minutes))
    throttle = LoginThrottle(
        settings.redis_url or "memory://",
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )
    return Container(
        settings=settings,
        database=database,
        auth=AuthService(hasher, codec, throttle, timedelta(days=settings.refresh_token_days)),
        users=UserService(hasher),
        groups=GroupService(),
        api_keys=ApiKeyService(),
        audit=AuditService(),
    )


def _signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # Development only (check_secret_key refuses this elsewhere): tokens die with the process.
    get_logger(__name__).warning("no DOCENT_SECRET_KEY: using a random key for this process only")
    return secrets.token_urlsafe(48)
