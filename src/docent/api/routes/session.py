"""The web app's sign-in: the same login sessions as /auth/login, with the tokens in HttpOnly cookies.

`POST /auth/session` signs in, `POST /auth/session/refresh` rotates the refresh token, `DELETE /auth/session`
signs out; `POST /auth/password` changes the caller's own password (any credential).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from docent.api import session as web_session
from docent.api.deps import (
    AnonymousLimit,
    AuthServiceDep,
    ContextDep,
    PrincipalDep,
    SettingsDep,
    TransactionDep,
    UserServiceDep,
)
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.schemas import UserOut
from docent.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from docent.auth.service import AuthService, TokenPair
from docent.config import Settings
from docent.errors import DocentError, ErrorCode

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    organization: str | None = Field(
        default=None, max_length=100, description="Org slug, when the email is in several"
    )


class SessionOut(BaseModel):
    user: UserOut
    expires_in: int = Field(description="Seconds the access cookie lasts; refresh before or on a 401")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: Annotated[str, Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]


def open_browser_session(
    request: Request, response: Response, settings: Settings, auth: AuthService, pair: TokenPair
) -> None:
    web_session.set_session_cookies(
        request,
        response,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        csrf_token=auth.session_csrf_token(pair.family_id),
        access_seconds=pair.expires_in,
        refresh_seconds=settings.refresh_token_days * 86400,
    )


@router.post(
    "/session",
    response_model=SessionOut,
    summary="Sign in: tokens in HttpOnly cookies",
    responses=errors(401, 403, 429),
    dependencies=[AnonymousLimit],
)
def sign_in(
    body: SessionIn,
    request: Request,
    response: Response,
    auth: AuthServiceDep,
    users: UserServiceDep,
    settings: SettingsDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Any:
    """For the web app: the same login as `/auth/login`, but the tokens are set as HttpOnly cookies and a CSRF
    token as a readable cookie. Requests from other sites are refused (403 `csrf_failed`)."""
    # Login CSRF: another site must not sign a visitor in to an account of its choosing.
    web_session.ensure_same_origin(request)
    pair = auth.login(uow, body.email, body.password, context, body.organization)
    open_browser_session(request, response, settings, auth, pair)
    user = users.profile(uow, auth.authenticate(uow, pair.access_token))
    return SessionOut(user=UserOut.model_validate(user), expires_in=pair.expires_in)


@router.post(
    "/session/refresh",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Rotate the session's refresh cookie (send X-CSRF-Token)",
    responses=errors(401, 403),
    dependencies=[AnonymousLimit],
)
def refresh_session(
    request: Request, auth: AuthServiceDep, settings: SettingsDep, uow: TransactionDep, context: ContextDep
) -> Response:
    """Rotates the refresh cookie and sets a new access cookie. The page must send the CSRF cookie's value in
    `X-CSRF-Token`."""
    web_session.ensure_same_origin(request)
    token = web_session.refresh_cookie(request)
    if token is None:
        raise DocentError(ErrorCode.NOT_AUTHENTICATED, "No session: sign in.")
    pair = auth.refresh(uow, token, context)
    # The rotation is rolled back unless the page proves it is Docent's (same session, same CSRF token).
    web_session.ensure_csrf(request, auth.session_csrf_token(pair.family_id))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    open_browser_session(request, response, settings, auth, pair)
    return response


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, summary="Sign out: end this session")
def sign_out(
    request: Request,
    principal: PrincipalDep,
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Response:
    """Ends the cookie session (its refresh token is revoked) and clears the cookies."""
    auth.logout(uow, principal, web_session.refresh_cookie(request), context)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    web_session.clear_session_cookies(request, response)
    return response


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change one's own password; the caller's other sessions end",
    responses=errors(429),
)
def change_password(
    body: PasswordIn,
    principal: PrincipalDep,
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> Response:
    """Needs the current password (400 `wrong_password` otherwise). The caller's other login sessions end; API
    keys keep working."""
    auth.change_password(uow, principal, body.current_password, body.new_password, context)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
