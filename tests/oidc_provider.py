"""A real OpenID provider on 127.0.0.1 for the single sign-on tests: discovery, a JWKS, an authorization
endpoint that signs the user in at once, and a token endpoint that checks the client secret and the PKCE
verifier and returns an RS256-signed ID token. `fault` makes it misbehave in one chosen way."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "docent-test"
CLIENT_SECRET = "provider-secret-" + "q8Lm2Vx7"
KID = "test-key-1"


class OpenIdProvider(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.issuer = f"http://127.0.0.1:{self.server_address[1]}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
        self.user: dict[str, Any] = {}  # the claims of whoever signs in next
        self.fault: str | None = None  # wrong_nonce, expired, other_key, other_audience, no_id_token
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests = 0

    def id_token(self, grant: dict[str, str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer, "sub": self.user["email"], "aud": CLIENT_ID, "iat": now, "exp": now + 300,
            "nonce": grant["nonce"], "email_verified": True, **self.user,
        }  # fmt: skip
        claims = {name: value for name, value in claims.items() if value is not None}  # None: left out
        if self.fault == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        if self.fault == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        if self.fault == "other_audience":
            claims["aud"] = "another-client"
        key = self.other_key if self.fault == "other_key" else self.key
        return jwt.encode({"alg": "RS256", "kid": KID}, claims, key)


class _Handler(BaseHTTPRequestHandler):
    server: OpenIdProvider

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        issuer = self.server.issuer
        if url.path == "/.well-known/openid-configuration":
            self._json({
                "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })  # fmt: skip
        elif url.path == "/jwks":
            self._json({"keys": [self.server.key.as_dict(private=False)]})
        elif url.path == "/authorize":
            query = dict(urllib.parse.parse_qsl(url.query))
            assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
            assert query["code_challenge_method"] == "S256" and "openid" in query["scope"].split()
            code = secrets.token_urlsafe(16)
            self.server.codes[code] = query
            target = (
                query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            )
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json({"error": "not_found"}, 404)

    def do_POST(self) -> None:
        self.server.token_requests += 1
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        grant = self.server.codes.pop(form.get("code", ""), None)
        if self.headers.get("Authorization") != f"Basic {basic}":
            return self._json({"error": "invalid_client"}, 401)
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if (
            grant is None
            or grant["code_challenge"] != challenge
            or grant["redirect_uri"] != form.get("redirect_uri")
        ):
            return self._json({"error": "invalid_grant"}, 400)
        body: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
        }
        if self.server.fault != "no_id_token":
            body["id_token"] = self.server.id_token(grant)
        return self._json(body)
