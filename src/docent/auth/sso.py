"""Single sign-on: a verified OpenID Connect identity becomes a Docent user and a login session.

A user is found by the provider's account (`issuer`, `sub`), which is linked to one Docent user at the
first sign-in (`user_identities`): to the configured organisation's user of that email only when the
provider says the email is verified and that user has no account at this provider yet, else to a user
created there (a member, with a random password nobody knows). From then on the email plays no part in
finding the user: a changed email at the provider follows onto the same user, and another account at the
provider claiming a linked user's email is refused (`sso_account_conflict`), never let in as that user.

The groups claim is the truth about an SSO user's groups: at every sign-in the user is put in exactly the
named groups of the organisation (created when missing). The browser carries the sign-in's `state`, `nonce`
and PKCE verifier between the two legs in a cookie sealed with Docent's signing key, so a cookie it did not
receive from Docent, or one older than `FLOW_SECONDS`, is refused.
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
from docent.db.tables import Group, Organization, User, UserIdentity, utcnow
from docent.db.uow import UnitOfWork, WriteConflictError
from docent.errors import DocentError, ErrorCode
from docent.observability.logs import get_logger
from docent.types import Role

_log = get_logger(__name__)

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
        user = self._linked_user(uow, identity, context) or self._link(uow, org, identity, context)
        self._sync_groups(uow, org, user, self._group_names(identity))
        return self._auth.sign_in_verified(uow, user, context, method="oidc")

    def _linked_user(self, uow: UnitOfWork, identity: Identity, context: RequestContext) -> User | None:
        """The user this provider account was linked to, with the email the provider now gives it."""
        link = uow.identities.find(identity.issuer, identity.subject)
        user = uow.users.get(link.user_id) if link is not None else None
        if link is None or user is None:
            return None
        link.email, link.last_seen_at = identity.email, utcnow()
        if identity.email != user.email and identity.email_verified:
            if uow.users.by_email(identity.email, user.org_id):  # another user's: keep the old one
                _log.warning("sso_email_not_followed", user_id=str(user.id), reason="taken")
            else:
                audit.record(
                    uow, context, "user.updated", org_id=user.org_id, actor_id=user.id, target_type="user",
                    target_id=user.id, details={"email": [user.email, identity.email], "via": "oidc"},
                )  # fmt: skip
                user.email = identity.email
        return user

    def _link(self, uow: UnitOfWork, org: Organization, identity: Identity, context: RequestContext) -> User:
        """Link a provider account seen for the first time: to the organisation's user of its email if
        that is safe, else to a new user. Two first sign-ins of one account at once (a double click) end
        as one user: the later one finds the link the earlier one made."""
        user = next(iter(uow.users.by_email(identity.email, org.id)), None)
        if user is not None and not identity.email_verified:
            raise self._refuse(uow, context, user, ErrorCode.SSO_EMAIL_UNVERIFIED)
        if user is not None and uow.identities.of_user(user.id, identity.issuer) is not None:
            raise self._refuse(uow, context, user, ErrorCode.SSO_ACCOUNT_CONFLICT)
        try:
            with uow.savepoint():
                user = user or self._create_user(uow, org, identity, context)
                uow.identities.add(
                    UserIdentity(
                        id=uuid.uuid4(),
                        user_id=user.id,
                        issuer=identity.issuer,
                        subject=identity.subject,
                        email=identity.email,
                    )
                )
                uow.flush()
        except WriteConflictError:
            linked = self._linked_user(uow, identity, context)
            if linked is None:  # another account took this email or this user at the same moment
                raise DocentError(ErrorCode.SSO_ACCOUNT_CONFLICT) from None
            return linked
        audit.record(
            uow, context, "user.identity_linked", org_id=org.id, actor_id=user.id, target_type="user",
            target_id=user.id, details={"issuer": identity.issuer},
        )  # fmt: skip
        return user

    @staticmethod
    def _refuse(uow: UnitOfWork, context: RequestContext, user: User, code: ErrorCode) -> DocentError:
        """An attempt to sign in as an existing user that the provider does not vouch for: audited."""
        audit.record(
            uow, context, "auth.login_failed", org_id=user.org_id, actor_id=None, target_type="user",
            target_id=user.id, details={"reason": code.value, "method": "oidc"},
        )  # fmt: skip
        _log.warning("sso_refused", reason=code.value, user_id=str(user.id))
        return DocentError(code, keep_writes=True)

    def _organization(self, uow: UnitOfWork) -> Organization:
        """The configured organisation, made by the first sign-in (or by one beside it at that moment)."""
        org = uow.orgs.by_slug(self._org_slug)
        if org is not None:
            return org
        try:
            with uow.savepoint():
                org = uow.orgs.add(Organization(id=uuid.uuid4(), name=self._org_slug, slug=self._org_slug))
                uow.flush()
        except WriteConflictError:
            org = uow.orgs.by_slug(self._org_slug)
            if org is None:
                raise DocentError(ErrorCode.SSO_FAILED) from None
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

    @staticmethod
    def _new_group(uow: UnitOfWork, org: Organization, name: str) -> Group:
        """A group first named by this sign-in, or by another user's at the same moment."""
        try:
            with uow.savepoint():
                group = uow.groups.add(Group(id=uuid.uuid4(), org_id=org.id, name=name))
                uow.flush()
        except WriteConflictError:
            found = uow.groups.by_name(org.id, name)
            if found is None:
                raise
            return found
        return group

    def _group_names(self, identity: Identity) -> set[str]:
        raw = identity.claims.get(self._groups_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        names = {v.strip() for v in values if isinstance(v, str) and 0 < len(v.strip()) <= MAX_GROUP_NAME}
        return set(sorted(names)[:MAX_GROUPS])

    def _sync_groups(self, uow: UnitOfWork, org: Organization, user: User, names: set[str]) -> None:
        wanted: set[uuid.UUID] = set()
        for name in names:
            group = uow.groups.by_name(org.id, name) or self._new_group(uow, org, name)
            wanted.add(group.id)
        current = set(uow.groups.group_ids_of(user.id))
        for group_id in wanted - current:
            uow.groups.add_member(group_id, user.id)
        for group_id in current - wanted:
            membership = uow.groups.membership(group_id, user.id)
            if membership is not None:
                uow.groups.remove_member(membership)
        uow.flush()
