"""Access tokens (signed JWTs), refresh tokens and API keys (random secrets stored only as hashes)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from docent.errors import DocentError, ErrorCode

ACCESS_TOKEN_TYPE = "access"  # noqa: S105
REFRESH_TOKEN_PREFIX = "drt_"  # noqa: S105
API_KEY_PREFIX = "dk_"
_ISSUER = "docent"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    org_id: uuid.UUID
    family_id: uuid.UUID
    sequence: int
    expires_at: datetime


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    secret: str  # the whole key, shown to its owner once
    key_hash: str


def hash_secret(secret: str) -> str:
    """Refresh tokens and API keys carry 256 bits of randomness, so a fast hash is enough to store them."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_api_key() -> NewApiKey:
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(prefix=prefix, secret=secret, key_hash=hash_secret(secret))


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


class AccessTokenCodec:
    def __init__(self, secret_key: str, lifetime: timedelta) -> None:
        self._key = secret_key
        self.lifetime = lifetime

    def issue(
        self, user_id: uuid.UUID, org_id: uuid.UUID, family_id: uuid.UUID, sequence: int, now: datetime
    ) -> str:
        claims = {
            "iss": _ISSUER,
            "typ": ACCESS_TOKEN_TYPE,
            "sub": str(user_id),
            "org": str(org_id),
            "fam": str(family_id),
            "seq": sequence,
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def sign(self, message: str) -> str:
        """An HMAC of `message` under the signing key (e.g. a login session's CSRF token)."""
        return hmac.new(self._key.encode(), message.encode(), hashlib.sha256).hexdigest()

    def decode(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise DocentError(ErrorCode.TOKEN_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise DocentError(ErrorCode.INVALID_TOKEN) from exc
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise DocentError(ErrorCode.INVALID_TOKEN, "This is not an access token.")
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                org_id=uuid.UUID(claims["org"]),
                family_id=uuid.UUID(claims["fam"]),
                sequence=int(claims["seq"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise DocentError(ErrorCode.INVALID_TOKEN) from exc
