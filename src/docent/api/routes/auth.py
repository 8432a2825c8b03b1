from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, status
from pydantic import BaseModel, Field

from docent.api.deps import (
    AnonymousLimit,
    AuthServiceDep,
    ContextDep,
    PrincipalDep,
    ReadOnlyDep,
    TransactionDep,
    UserServiceDep,
)
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.schemas import UserOut
from docent.auth.service import TokenPair

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


class TokenOut(BaseModel):
    """A login session's tokens."""

    access_token: str = Field(description="Send as `Authorization: Bearer <token>`; short-lived")
    refresh_token: str = Field(description="Trade at `/auth/refresh` for a new pair; each works once")
    token_type: str = Field(default="bearer", description="Always `bearer`")
    expires_in: int = Field(description="Seconds until the access token expires")

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
        )


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512, description="From the last login or refresh")


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=512, description="A session to end as well")


class MeOut(UserOut):
    credential: str = Field(description="How the caller authenticated: `access_token` or `api_key`")


_LOGIN = {"username": "ada@example.com", "password": "correct-horse-battery-staple"}


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with email and password (OAuth2 password form)",
    responses=errors(401, 429),
    openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"example": _LOGIN}}}},
    dependencies=[AnonymousLimit],
)
def login(
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    username: Annotated[str, Form(min_length=1, max_length=320, description="The account's email")],
    password: Annotated[str, Form(min_length=1, max_length=256, description="The account's password")],
    organization: Annotated[
        str | None, Form(max_length=100, description="Org slug, if the email is in several")
    ] = None,
) -> TokenOut:
    """An OAuth2 password form (`username` is the email). Answers a short-lived access token and a rotating
    refresh token; send the access token as `Authorization: Bearer <token>`. When the email is in several
    organisations, name one with `organization` (400 `organization_required` says which). Repeated failures
    for an account or address are slowed down with 429 `too_many_attempts` and `Retry-After`."""
    return TokenOut.of(auth.login(uow, username, password, context, organization))


@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="Rotate a refresh token",
    responses=errors(401),
    dependencies=[AnonymousLimit],
)
def refresh(body: RefreshIn, auth: AuthServiceDep, uow: TransactionDep, context: ContextDep) -> TokenOut:
    """Trades a refresh token for a new pair; the old refresh token stops working. Presenting a refresh token
    that was already used revokes its whole login session (401 `token_revoked`)."""
    return TokenOut.of(auth.refresh(uow, body.refresh_token, context))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this login session")
def logout(
    principal: PrincipalDep,
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    body: LogoutIn | None = None,
) -> None:
    """Ends the caller's login session (its access and refresh tokens stop working at once), and the
    session of the refresh token in the body, if one is sent."""
    auth.logout(uow, principal, body.refresh_token if body else None, context)


@router.get("/me", response_model=MeOut, summary="The caller")
def me(principal: PrincipalDep, users: UserServiceDep, uow: ReadOnlyDep) -> MeOut:
    """The authenticated user, and how they authenticated (`credential`: `access_token` or `api_key`)."""
    user = users.profile(uow, principal)
    return MeOut.model_validate(
        {**UserOut.model_validate(user).model_dump(), "credential": principal.credential}
    )
