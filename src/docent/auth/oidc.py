"""OpenID Connect with an identity provider: the Authorization Code flow with PKCE.

`OidcProvider` speaks to the provider — its discovery document and keys (cached), the authorization URL
(`state`, `nonce` and an S256 code challenge, by Authlib's OAuth 2 client), the code exchange (with the
client secret and the code verifier) — and accepts an ID token only when it is signed by one of the
provider's keys, issued by the configured issuer to this client, unexpired, and carries the nonce of this
very sign-in. Everything it refuses is `DocentError(SSO_FAILED)`; the reason is logged, not shown.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from docent.errors import DocentError, ErrorCode
from docent.observability.logs import get_logger

if TYPE_CHECKING:  # Authlib and joserfc are imported when a sign-in needs them: seconds at start-up
    from authlib.integrations.httpx_client import OAuth2Client
    from joserfc.jwk import KeySet
    from joserfc.jwt import Token

_log = get_logger(__name__)

_TIMEOUT_SECONDS = 10.0
_MAX_DOCUMENT_BYTES = 512 * 1024  # a discovery document or a key set is a few kB
_METADATA_TTL_SECONDS = 3600
_LEEWAY_SECONDS = 60  # clocks of the provider and of Docent may differ a little
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str = "openid email profile"


@dataclass(frozen=True)
class SignInStart:
    """What the browser must bring back to the callback (kept in a signed cookie meanwhile)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """The verified claims of an ID token. `issuer` and `subject` name the provider's account for good;
    the email may change, and vouches for its owner only when `email_verified`."""

    issuer: str
    subject: str
    email: str
    email_verified: bool
    name: str | None
    claims: dict[str, Any] = field(repr=False)


def refuse(reason: str, **details: object) -> DocentError:
    _log.warning("sso_refused", reason=reason, **details)
    return DocentError(ErrorCode.SSO_FAILED)


class OidcProvider:
    def __init__(self, config: OidcConfig) -> None:
        self._config = config
        self._lock = threading.RLock()  # discovery is read under the key set's lock too
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    def start(self, redirect_uri: str) -> SignInStart:
        metadata = self._discovery()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        verifier += secrets.token_urlsafe(32)  # RFC 7636: 43-128 characters
        with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        return SignInStart(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def finish(self, redirect_uri: str, code: str, nonce: str, code_verifier: str) -> Identity:
        """Exchange the code for tokens and verify the ID token. The caller has compared `state` already."""
        metadata = self._discovery()
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
        except Exception as exc:  # the vendor's many errors (HTTP, OAuth, JSON) all mean the same refusal
            raise refuse("token_exchange", error=type(exc).__name__) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise refuse("no_id_token")
        return self._verify(id_token, nonce)

    def _verify(self, id_token: str, nonce: str) -> Identity:
        from joserfc import jwt
        from joserfc.errors import JoseError

        token = self._decode(id_token)
        config = self._config
        registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY_SECONDS,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise refuse("claims", error=exc.error) from None
        claims = token.claims
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != config.client_id:
            raise refuse("azp")
        if len(str(claims["sub"])) > 255:  # OpenID Connect Core: at most 255 ASCII characters
            raise refuse("sub")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or claims.get("email_verified") is False:
            raise refuse("email")
        name = claims.get("name")
        return Identity(
            issuer=config.issuer,
            subject=str(claims["sub"]),
            email=email.strip().lower(),
            email_verified=claims.get("email_verified") is True,
            name=name[:200] if isinstance(name, str) else None,
            claims=claims,
        )

    def _decode(self, id_token: str) -> Token:
        from joserfc import jwt
        from joserfc.errors import JoseError

        for refresh in (False, True):  # a key not seen yet: the provider may have rotated its keys
            try:
                return jwt.decode(id_token, self._key_set(refresh), algorithms=list(_ALGORITHMS))
            except JoseError as exc:
                reason = exc.error
            except ValueError as exc:  # no key with the token's `kid`
                reason = str(exc)[:200]
        raise refuse("signature", error=reason)

    def _key_set(self, refresh: bool) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        with self._lock:
            if self._keys is None or refresh:
                document = self._get_json(self._discovery()["jwks_uri"])
                try:
                    self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]  # checked here
                except (JoseError, ValueError, KeyError, TypeError) as exc:
                    raise refuse("key_set", error=type(exc).__name__) from None
            return self._keys

    def _discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > _METADATA_TTL_SECONDS:
                url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                metadata = self._get_json(url)
                needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                if metadata.get("issuer") != self._config.issuer or not all(
                    isinstance(metadata.get(k), str) for k in needed
                ):
                    raise refuse("discovery_document")
                self._metadata, self._metadata_at = metadata, time.monotonic()
            return self._metadata

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=_TIMEOUT_SECONDS, follow_redirects=False)
            response.raise_for_status()
            if len(response.content) > _MAX_DOCUMENT_BYTES:
                raise ValueError("too large")
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise refuse("provider_unreachable", url=url, error=type(exc).__name__) from None
        if not isinstance(document, dict):
            raise refuse("provider_document", url=url)
        return document

    def _client(self, redirect_uri: str) -> OAuth2Client:
        from authlib.integrations.httpx_client import OAuth2Client

        config = self._config
        return OAuth2Client(
            client_id=config.client_id,
            client_secret=config.client_secret,
            scope=config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=_TIMEOUT_SECONDS,
        )
