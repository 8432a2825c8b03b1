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
from docent.api.routes import API_PREFIX
from docent.api.schemas import UserOut
from docent.auth.service import TokenPair

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
        )


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutIn(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=512)


class MeOut(UserOut):
    credential: str


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with email and password (OAuth2 password form)",
    dependencies=[AnonymousLimit],
)
def login(
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    username: Annotated[str, Form(min_length=1, max_length=320, description="The account's email")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    organization: Annotated[
        str | None, Form(max_length=100, description="Org slug, if the email is in several")
    ] = None,
) -> TokenOut:
    return TokenOut.of(auth.login(uow, username, password, context, organization))


@router.post(
    "/refresh", response_model=TokenOut, summary="Rotate a refresh token", dependencies=[AnonymousLimit]
)
def refresh(body: RefreshIn, auth: AuthServiceDep, uow: TransactionDep, context: ContextDep) -> TokenOut:
    return TokenOut.of(auth.refresh(uow, body.refresh_token, context))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this login session")
def logout(
    principal: PrincipalDep,
    auth: AuthServiceDep,
    uow: TransactionDep,
    context: ContextDep,
    body: LogoutIn | None = None,
) -> None:
    auth.logout(uow, principal, body.refresh_token if body else None, context)


@router.get("/me", response_model=MeOut, summary="The caller")
def me(principal: PrincipalDep, users: UserServiceDep, uow: ReadOnlyDep) -> MeOut:
    user = users.profile(uow, principal)
    return MeOut.model_validate(
        {**UserOut.model_validate(user).model_dump(), "credential": principal.credential}
    )
