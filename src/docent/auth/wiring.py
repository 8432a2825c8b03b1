"""The authentication services and request limits, built from the settings: signing keys, login throttling,
single sign-on when configured, and the rate limits. Only `docent.container` calls these."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from docent.auth.passwords import PasswordHasher
from docent.auth.rate_limits import RateLimitKind, RateLimits
from docent.auth.service import AuthService
from docent.auth.throttle import LoginThrottle
from docent.auth.tokens import AccessTokenCodec
from docent.config import Settings
from docent.observability.logs import get_logger

if TYPE_CHECKING:
    from docent.auth.sso import SsoService


def build_auth(settings: Settings, hasher: PasswordHasher) -> tuple[AuthService, SsoService | None]:
    codec = AccessTokenCodec(_signing_key(settings), timedelta(minutes=settings.access_token_minutes))
    throttle = LoginThrottle(
        settings.redis_url or "memory://",
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
        namespace=settings.queue_name,
    )
    sso_only = settings.oidc_organization if settings.oidc_enabled and settings.oidc_only else None
    auth = AuthService(
        hasher, codec, throttle, timedelta(days=settings.refresh_token_days), sso_only_org=sso_only
    )
    return auth, _sso(settings, auth, hasher, codec)


def _sso(
    settings: Settings, auth: AuthService, hasher: PasswordHasher, codec: AccessTokenCodec
) -> SsoService | None:
    if not (settings.oidc_enabled and settings.oidc_issuer and settings.oidc_client_id):
        return None
    from docent.auth.oidc import OidcConfig, OidcProvider  # Authlib and joserfc, only when SSO is on
    from docent.auth.sso import SsoService

    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    provider = OidcProvider(
        OidcConfig(settings.oidc_issuer, settings.oidc_client_id, secret, settings.oidc_scopes)
    )
    return SsoService(
        provider,
        auth,
        hasher,
        codec.sign,
        org_slug=settings.oidc_organization,
        groups_claim=settings.oidc_groups_claim,
    )


def build_rate_limits(settings: Settings) -> RateLimits:
    rules = {
        RateLimitKind.SEARCH: settings.rate_limit_search,
        RateLimitKind.CHAT: settings.rate_limit_chat,
        RateLimitKind.UPLOAD: settings.rate_limit_upload,
        RateLimitKind.ANONYMOUS: settings.rate_limit_anonymous,
    }
    # The queue's name tells installations sharing one Redis apart; their counters must not mix.
    return RateLimits(settings.redis_url or "memory://", rules, namespace=settings.queue_name)


def _signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # Development only (check_secret_key refuses this elsewhere): tokens die with the process.
    get_logger(__name__).warning("no DOCENT_SECRET_KEY: using a random key for this process only")
    return secrets.token_urlsafe(48)
