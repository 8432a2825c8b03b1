"""OpenID Connect sign-in for the web app: `GET /auth/oidc/login` sends the browser to the provider, which
sends it back to `GET /auth/oidc/callback`; on success the browser holds the same session cookies as after
`POST /auth/session`, and lands on the web app. `GET /auth/oidc` tells the sign-in page what to offer.

Those two legs are browser navigations: when one fails (a wrong `state`, an expired or forged ID token, an
account conflict), the browser is sent to the sign-in page, which says why (`?sso_error=<code>`), rather
than left on a page of JSON. A client that asks for JSON (`Accept: application/json`) gets the error shape.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from docent.api import session as web_session
from docent.api.deps import AuthServiceDep, ContextDep, SettingsDep, SsoServiceDep, TransactionDep
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.routes.session import open_browser_session
from docent.auth.oidc import refuse
from docent.auth.sso import FLOW_SECONDS, SsoService
from docent.config import Settings
from docent.errors import DocentError, ErrorCode

_FLOW_COOKIE = "docent_oidc_flow"
_FLOW_PATH = f"{API_PREFIX}/auth/oidc"
SIGN_IN_PAGE = "/login"


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


class _BrowserFlowRoute(APIRoute):
    """A refusal lands on the sign-in page with its code, unless the client asked for JSON. It wraps the
    whole handler, so the request's transaction has already ended as the error says (rolled back, or its
    security records kept) when the refusal becomes a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_or_show(request: Request) -> Response:
            try:
                return await handle(request)
            except DocentError as error:
                if _wants_json(request):
                    raise
                query = urllib.parse.urlencode({"sso_error": error.code.value})
                response = RedirectResponse(f"{SIGN_IN_PAGE}?{query}", status_code=303)
                _forget_flow(request, response)
                return response

        return handle_or_show


router = APIRouter(prefix=f"{API_PREFIX}/auth/oidc", tags=["auth"], route_class=_BrowserFlowRoute)


def _forget_flow(request: Request, response: Response) -> None:
    response.delete_cookie(
        _FLOW_COOKIE, path=_FLOW_PATH, httponly=True, secure=web_session.is_secure(request)
    )


class OidcInfoOut(BaseModel):
    enabled: bool
    login_url: str | None
    password_login: bool


def _configured(sso: SsoService | None) -> SsoService:
    if sso is None:
        raise DocentError(ErrorCode.SSO_NOT_CONFIGURED)
    return sso


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


@router.get("", response_model=OidcInfoOut, summary="Whether single sign-on is offered")
def oidc_info(request: Request, settings: SettingsDep, sso: SsoServiceDep) -> OidcInfoOut:
    """Whether the sign-in page should offer single sign-on (OpenID Connect), where it starts, and whether
    password sign-in stays available. Needs no credentials."""
    return OidcInfoOut(
        enabled=sso is not None,
        login_url=str(request.url_for("oidc_login").path) if sso is not None else None,
        password_login=not (sso is not None and settings.oidc_only),
    )


@router.get(
    "/login", summary="Sign in with SSO: a redirect to the identity provider", responses=errors(401, 404)
)
def oidc_login(request: Request, settings: SettingsDep, sso: SsoServiceDep) -> RedirectResponse:
    """Starts the Authorization Code flow with PKCE: redirects the browser to the identity provider, with the
    flow sealed in a short-lived cookie. On failure the browser is redirected (303) to the sign-in page with
    `?sso_error=<code>`; a client sending `Accept: application/json` gets the error instead."""
    url, sealed_flow = _configured(sso).start(_redirect_uri(request, settings))
    response = RedirectResponse(url, status_code=302)
    # Lax: the cookie must come back with the provider's top-level redirect to the callback.
    response.set_cookie(
        _FLOW_COOKIE, sealed_flow, max_age=FLOW_SECONDS, path=_FLOW_PATH, httponly=True,
        secure=web_session.is_secure(request), samesite="lax",
    )  # fmt: skip
    return response


@router.get(
    "/callback",
    summary="Where the identity provider sends the browser back",
    responses=errors(401, 403, 404, 409),
)
def oidc_callback(
    request: Request,
    settings: SettingsDep,
    sso: SsoServiceDep,
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    """The identity provider sends the browser back here with `code` and `state`; Docent verifies the ID
    token, signs the user in with session cookies and redirects to `/`. A provider account is one Docent
    user for good (found by issuer and subject); it is joined to an existing user only by an email the
    provider verified, and only if that user has no other account at this provider (else 403
    `sso_email_unverified` or 409 `sso_account_conflict`). On failure the browser is redirected (303) to the
    sign-in page with `?sso_error=<code>`; a client sending `Accept: application/json` gets the error."""
    service = _configured(sso)
    flow = service.open_flow(request.cookies.get(_FLOW_COOKIE), state or "")
    if error is not None or not code:
        raise refuse("provider_error", error=error)
    identity = service.verify(_redirect_uri(request, settings), code, flow)  # before the transaction begins
    pair = service.sign_in(uow, identity, context)
    response = RedirectResponse("/", status_code=303)
    open_browser_session(request, response, settings, auth, pair)
    _forget_flow(request, response)
    return response
