"""Authentication: login, token rotation, logout, and turning a bearer credential into a principal."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.passwords import PasswordHasher
from docent.auth.policy import ALL_SCOPES, CredentialKind, Principal, Scope, parse_scopes
from docent.auth.throttle import LoginThrottle
from docent.auth.tokens import AccessTokenCodec, hash_secret, looks_like_api_key, new_refresh_token
from docent.db.tables import RefreshToken, TokenFamily, User
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.types import Role


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    family_id: uuid.UUID  # the login session both tokens belong to


def normalize_email(email: str) -> str:
    return email.strip().lower()


class AuthService:
    def __init__(
        self,
        hasher: PasswordHasher,
        codec: AccessTokenCodec,
        throttle: LoginThrottle,
        refresh_lifetime: timedelta,
        *,
        sso_only_org: str | None = None,
    ) -> None:
        self._hasher = hasher
        self._codec = codec
        self._throttle = throttle
        self._refresh_lifetime = refresh_lifetime
        self._sso_only_org = sso_only_org  # the slug of the organisation whose users sign in by SSO only

    def login(
        self, uow: UnitOfWork, email: str, password: str, context: RequestContext, org_slug: str | None = None
    ) -> TokenPair:
        account = normalize_email(email)
        address = context.ip or "unknown"
        self._throttle.ensure_allowed(account, address)
        candidates = self._login_candidates(uow, account, org_slug)
        if len(candidates) > 1:
            self._ask_for_organization(uow, account, address, context, candidates, password)
        user = candidates[0] if candidates else None
        if user is not None and self._sso_only_org is not None:
            self._ensure_password_allowed(uow, user)
        uow.release()  # the hash takes seconds under load; SQLite's write lock must not wait on it
        valid, updated_hash = self._hasher.verify(password, user.password_hash if user else None)
        if user is None or not valid:
            self._fail_login(uow, account, address, context, user)
        if not user.is_active:
            self._fail_login(uow, account, address, context, user, reason="inactive")
        self._throttle.record_success(account, address)
        if updated_hash:
            user.password_hash = updated_hash
        now = datetime.now(UTC)
        user.last_login_at = now
        audit.record(uow, context, "auth.login", org_id=user.org_id, actor_id=user.id)
        return self._open_family(uow, user, now)

    def sign_in_verified(
        self, uow: UnitOfWork, user: User, context: RequestContext, method: str
    ) -> TokenPair:
        """A login session for a user whose identity another party vouched for (single sign-on)."""
        if not user.is_active:
            audit.record(
                uow, context, "auth.login_failed", org_id=user.org_id, actor_id=user.id,
                details={"reason": "inactive", "method": method},
            )  # fmt: skip
            raise DocentError(ErrorCode.ACCOUNT_DEACTIVATED, keep_writes=True)
        now = datetime.now(UTC)
        user.last_login_at = now
        audit.record(
            uow, context, "auth.login", org_id=user.org_id, actor_id=user.id, details={"method": method}
        )
        return self._open_family(uow, user, now)

    def _ensure_password_allowed(self, uow: UnitOfWork, user: User) -> None:
        org = uow.orgs.get(user.org_id)
        if org is not None and org.slug == self._sso_only_org:
            raise DocentError(ErrorCode.PASSWORD_LOGIN_DISABLED)

    def open_session(self, uow: UnitOfWork, user: User) -> TokenPair:
        """A new login session for a user who has already proved who they are (tests mint tokens so)."""
        return self._open_family(uow, user, datetime.now(UTC))

    def refresh(self, uow: UnitOfWork, refresh_token: str, context: RequestContext) -> TokenPair:
        stored = uow.tokens.refresh_token_by_hash(hash_secret(refresh_token))
        if stored is None:
            raise DocentError(ErrorCode.INVALID_TOKEN, "Unknown refresh token.")
        family = uow.tokens.get_family(stored.family_id)
        user = uow.users.get(family.user_id) if family else None
        if family is None or user is None or family.revoked_at is not None or not user.is_active:
            raise DocentError(ErrorCode.TOKEN_REVOKED)
        now = datetime.now(UTC)
        if stored.used_at is not None:
            self._revoke_reused_family(uow, family, stored.sequence, user, context)
        if stored.expires_at <= now:
            raise DocentError(ErrorCode.TOKEN_EXPIRED)
        stored.used_at = now
        return self._rotate(uow, user, family.id, stored.sequence + 1, now)

    def logout(
        self, uow: UnitOfWork, principal: Principal, refresh_token: str | None, context: RequestContext
    ) -> None:
        """End the login session of the access token, and of the refresh token if one is given."""
        now = datetime.now(UTC)
        families = {principal.family_id} if principal.family_id else set()
        if refresh_token:
            stored = uow.tokens.refresh_token_by_hash(hash_secret(refresh_token))
            family = uow.tokens.get_family(stored.family_id) if stored else None
            if family is not None and family.user_id == principal.user_id:
                families.add(family.id)
        for family_id in families:
            uow.tokens.revoke_family(family_id, "logout", now)
        audit.record(uow, context, "auth.logout", org_id=principal.org_id, actor_id=principal.user_id)

    def local_principal(self, uow: UnitOfWork, email: str, org_slug: str | None = None) -> Principal:
        """The command line acts as an active user named by the operator, who already holds the machine."""
        org = uow.orgs.by_slug(org_slug) if org_slug else None
        if org_slug and org is None:
            raise DocentError(ErrorCode.NOT_FOUND, f"No organisation {org_slug!r}.")
        users = [u for u in uow.users.by_email(email.strip().lower(), org.id if org else None) if u.is_active]
        if not users:
            where = f" in organisation {org_slug!r}" if org_slug else ""
            raise DocentError(ErrorCode.USER_NOT_FOUND, f"There is no active user {email!r}{where}.")
        if len(users) > 1:
            raise DocentError(
                ErrorCode.USER_NOT_FOUND,
                f"{email!r} is a user of several organisations: name one with --org.",
            )
        return _principal(users[0], CredentialKind.COMMAND_LINE)

    def authenticate(self, uow: UnitOfWork, credential: str) -> Principal:
        """Resolve a bearer credential (access token or API key) against the database's current state. Only
        reads: an API key's last use is written apart (`docent.auth.api_keys.KeyUseRecorder`)."""
        if looks_like_api_key(credential):
            return self._authenticate_api_key(uow, credential)
        claims = self._codec.decode(credential)
        user = uow.users.get(claims.user_id)
        family = uow.tokens.get_family(claims.family_id)
        if user is None or user.org_id != claims.org_id or family is None or family.user_id != user.id:
            raise DocentError(ErrorCode.INVALID_TOKEN)
        if not user.is_active or (
            family.access_cutoff is not None and claims.sequence >= family.access_cutoff
        ):
            raise DocentError(ErrorCode.TOKEN_REVOKED)
        return _principal(user, CredentialKind.ACCESS_TOKEN, family_id=family.id)

    def _authenticate_api_key(self, uow: UnitOfWork, credential: str) -> Principal:
        key = uow.api_keys.by_hash(hash_secret(credential))
        user = uow.users.get(key.user_id) if key else None
        if key is None or user is None:
            raise DocentError(ErrorCode.INVALID_TOKEN, "Unknown API key.")
        if key.revoked_at is not None or not user.is_active:
            raise DocentError(ErrorCode.TOKEN_REVOKED, "This API key no longer works.")
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise DocentError(ErrorCode.TOKEN_EXPIRED, "This API key has expired.")
        return _principal(user, CredentialKind.API_KEY, api_key_id=key.id, scopes=parse_scopes(key.scopes))

    def _login_candidates(self, uow: UnitOfWork, email: str, org_slug: str | None) -> list[User]:
        org_id = None
        if org_slug:
            org = uow.orgs.by_slug(org_slug)
            if org is None:
                return []
            org_id = org.id
        return list(uow.users.by_email(email, org_id))

    def _ask_for_organization(
        self,
        uow: UnitOfWork,
        account: str,
        address: str,
        context: RequestContext,
        candidates: list[User],
        password: str,
    ) -> NoReturn:
        """The same address in several organisations is ambiguous without the organisation's slug. Only a
        caller who knows the password learns which organisations (those where it is right) to choose from."""
        uow.release()
        matching = [
            u for u in candidates if self._hasher.verify(password, u.password_hash)[0] and u.is_active
        ]
        if not matching:
            self._fail_login(uow, account, address, context, None)
        slugs = sorted(org.slug for u in matching if (org := uow.orgs.get(u.org_id)) is not None)
        raise DocentError(ErrorCode.ORGANIZATION_REQUIRED, details={"organizations": slugs})

    def change_password(
        self, uow: UnitOfWork, principal: Principal, current: str, new: str, context: RequestContext
    ) -> None:
        """The caller's own password. Their other login sessions end; the one making the change stays."""
        user = uow.users.get(principal.user_id)
        if user is None:
            raise DocentError(ErrorCode.USER_NOT_FOUND)
        address = context.ip or "unknown"
        self._throttle.ensure_allowed(user.email, address)
        uow.release()
        if not self._hasher.verify(current, user.password_hash)[0]:
            self._throttle.record_failure(user.email, address)
            audit.record(uow, context, "auth.password_change_failed", org_id=user.org_id, actor_id=user.id)
            raise DocentError(ErrorCode.WRONG_PASSWORD, keep_writes=True)
        user.password_hash = self._hasher.hash(new)  # still before this transaction's first statement
        uow.tokens.revoke_all_for_user(
            user.id, "password_changed", datetime.now(UTC), keep_family_id=principal.family_id
        )
        audit.record(
            uow,
            context,
            "auth.password_changed",
            org_id=user.org_id,
            actor_id=user.id,
            target_type="user",
            target_id=user.id,
        )

    def session_csrf_token(self, family_id: uuid.UUID) -> str:
        """The CSRF token of one browser login session: derived from it, so it needs no storage and ends
        with it."""
        return self._codec.sign(f"csrf:{family_id}")

    def _fail_login(
        self,
        uow: UnitOfWork,
        account: str,
        address: str,
        context: RequestContext,
        user: User | None,
        reason: str = "password",
    ) -> NoReturn:
        self._throttle.record_failure(account, address)
        audit.record(
            uow,
            context,
            "auth.login_failed",
            org_id=user.org_id if user else None,
            actor_id=None,
            target_type="user" if user else None,
            target_id=user.id if user else None,
            details={"reason": reason if user else "unknown_account"},
        )
        raise DocentError(ErrorCode.INVALID_CREDENTIALS, keep_writes=True)

    def _revoke_reused_family(
        self, uow: UnitOfWork, family: TokenFamily, sequence: int, user: User, context: RequestContext
    ) -> NoReturn:
        """A rotated refresh token came back: someone holds a copy, so the session's refresh tokens end,
        and so do the access tokens minted after this one was first used (they may be the copier's)."""
        uow.tokens.revoke_family(
            family.id, "refresh_token_reused", datetime.now(UTC), access_cutoff=sequence + 1
        )
        audit.record(
            uow,
            context,
            "auth.refresh_reuse_detected",
            org_id=user.org_id,
            actor_id=user.id,
            target_type="token_family",
            target_id=family.id,
        )
        raise DocentError(
            ErrorCode.TOKEN_REVOKED,
            "This refresh token was already used; the session is revoked.",
            keep_writes=True,
        )

    def _open_family(self, uow: UnitOfWork, user: User, now: datetime) -> TokenPair:
        family = uow.tokens.add_family(TokenFamily(id=uuid.uuid4(), user_id=user.id, created_at=now))
        uow.flush()
        return self._rotate(uow, user, family.id, 0, now)

    def _rotate(
        self, uow: UnitOfWork, user: User, family_id: uuid.UUID, sequence: int, now: datetime
    ) -> TokenPair:
        refresh = new_refresh_token()
        uow.tokens.add_refresh_token(
            RefreshToken(
                family_id=family_id,
                token_hash=hash_secret(refresh),
                sequence=sequence,
                created_at=now,
                expires_at=now + self._refresh_lifetime,
            )
        )
        access = self._codec.issue(user.id, user.org_id, family_id, sequence, now)
        return TokenPair(access, refresh, int(self._codec.lifetime.total_seconds()), family_id)


def _principal(
    user: User,
    credential: CredentialKind,
    *,
    family_id: uuid.UUID | None = None,
    api_key_id: uuid.UUID | None = None,
    scopes: frozenset[Scope] = ALL_SCOPES,
) -> Principal:
    return Principal(
        user_id=user.id,
        org_id=user.org_id,
        email=user.email,
        role=Role(user.role),
        credential=credential,
        family_id=family_id,
        api_key_id=api_key_id,
        scopes=scopes,
    )
