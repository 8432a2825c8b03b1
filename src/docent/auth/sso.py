"""Single sign-on: a verified OpenID Connect identity becomes a Docent user and a login session.

A user is found by email in the configured organisation, or created there on first sign-in (a member, with
a random password nobody knows). The groups claim is the truth about an SSO user's groups: at every sign-in
the user is put in exactly the named groups of the organisation (created when missing). The browser carries
the sign-in's `state`, `nonce` and PKCE verifier between the two legs in a cookie sealed with Docent's
signing key, so a cookie it did not receive from Docent, or one older than `FLOW_SECONDS`, is refused.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from docent.auth import audit
from docent.auth.audit import RequestContext
from docent.auth.oidc import Identity, OidcProvider, SignInStart, refuse
from docent.auth.passwords import PasswordHasher
from docent.auth.service import AuthService, TokenPair
from docent.db.tables import Group, Organization, User
from docent.db.uow import UnitOfWork
from docent.types import Role

FLOW_SECONDS = 600
MAX_GROUPS = 100
MAX_GROUP_NAME = 200


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    code_verifier: str


class SsoService:
    def __init__(
        self,
        provider: OidcProvider,
        auth: AuthService,
        hasher: PasswordHasher,
        sign: Callable[[str], str],
        *,
        org_slug: str,
        groups_claim: str,
    ) -> None:
        self._provider = provider
        self._auth = auth
        self._hasher = hasher
        self._sign = sign
        self._org_slug = org_slug
        self._groups_claim = groups_claim

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL, and the sealed flow the browser keeps until the callback."""
        started: SignInStart = self._provider.start(redirect_uri)
        flow = {"s": started.state, "n": started.nonce, "v": started.code_verifier, "t": int(time.time())}
        payload = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode()
        return started.url, f"{payload}.{self._sign('oidc-flow:' + payload)}"

    def open_flow(self, sealed: str | None, state: str) -> Flow:
        """The flow this browser started, if `state` is the one it was given (refused otherwise)."""
        payload, _, signature = (sealed or "").partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign("oidc-flow:" + payload)):
            raise refuse("flow_cookie")
        flow = json.loads(base64.urlsafe_b64decode(payload))
        if time.time() - flow["t"] > FLOW_SECONDS:
            raise refuse("flow_expired")
        if not state or not hmac.compare_digest(state, flow["s"]):
            raise refuse("state")
        return Flow(state=flow["s"], nonce=flow["n"], code_verifier=flow["v"])

    def verify(self, redirect_uri: str, code: str, flow: Flow) -> Identity:
        """Talks to the provider: call it before touching the database (no lock held while waiting)."""
        return self._provider.finish(redirect_uri, code, flow.nonce, flow.code_verifier)

    def sign_in(self, uow: UnitOfWork, identity: Identity, context: RequestContext) -> TokenPair:
        org = self._organization(uow)
        user = next(iter(uow.users.by_email(identity.email, org.id)), None)
        if user is None:
            user = self._create_user(uow, org, identity, context)
        self._sync_groups(uow, org, user, self._group_names(identity))
        return self._auth.sign_in_verified(uow, user, context, method="oidc")

    def _organization(self, uow: UnitOfWork) -> Organization:
        org = uow.orgs.by_slug(self._org_slug)
        if org is None:
            org = uow.orgs.add(Organization(id=uuid.uuid4(), name=self._org_slug, slug=self._org_slug))
            uow.flush()
        return org

    def _create_user(
        self, uow: UnitOfWork, org: Organization, identity: Identity, context: RequestContext
    ) -> User:
        user = uow.users.add(
            User(
                id=uuid.uuid4(),
                org_id=org.id,
                email=identity.email,
                full_name=identity.name,
                password_hash=self._hasher.hash(secrets.token_urlsafe(48)),  # never told to anyone
                role=Role.MEMBER.value,
                is_active=True,
            )
        )
        uow.flush()
        audit.record(
            uow, context, "user.created", org_id=org.id, actor_id=None, target_type="user", target_id=user.id,
            details={"role": Role.MEMBER.value, "via": "oidc"},
        )  # fmt: skip
        return user

    def _group_names(self, identity: Identity) -> set[str]:
        raw = identity.claims.get(self._groups_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        names = {v.strip() for v in values if isinstance(v, str) and 0 < len(v.strip()) <= MAX_GROUP_NAME}
        return set(sorted(names)[:MAX_GROUPS])

    def _sync_groups(self, uow: UnitOfWork, org: Organization, user: User, names: set[str]) -> None:
        wanted: set[uuid.UUID] = set()
        for name in names:
            group = uow.groups.by_name(org.id, name)
            if group is None:
                group = uow.groups.add(Group(id=uuid.uuid4(), org_id=org.id, name=name))
                uow.flush()
            wanted.add(group.id)
        current = set(uow.groups.group_ids_of(user.id))
        for group_id in wanted - current:
            uow.groups.add_member(group_id, user.id)
        for group_id in current - wanted:
            membership = uow.groups.membership(group_id, user.id)
            if membership is not None:
                uow.groups.remove_member(membership)
        uow.flush()
