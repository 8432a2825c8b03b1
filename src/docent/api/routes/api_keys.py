from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, status
from pydantic import AfterValidator, BaseModel, Field, field_validator

from docent.api.deps import ApiKeyServiceDep, ContextDep, PrincipalDep, ReadOnlyDep, TransactionDep
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel
from docent.auth.policy import DEFAULT_KEY_SCOPES, Scope

router = APIRouter(prefix=f"{API_PREFIX}/api-keys", tags=["api keys"])


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2027-01-31T00:00:00Z")
    return value


class ApiKeyIn(BaseModel):
    """A new API key."""

    name: str = Field(min_length=1, max_length=200, pattern=r"\S", description="What it is for; not blank")
    scopes: list[Scope] = Field(
        default_factory=lambda: sorted(DEFAULT_KEY_SCOPES),
        min_length=1,
        max_length=3,
        description="`read` (search, chat, reading), `write` (uploads and other changes), `admin`",
    )
    expires_at: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None, description="When the key stops working (401 `token_expired`); none: never"
    )


class ApiKeyOut(OrmModel):
    """An API key, without its secret."""

    id: uuid.UUID
    name: str = Field(description="What it is for")
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last request with it (updated at most once a minute)")
    scopes: list[str]
    expires_at: datetime | None

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return sorted(value.split()) if isinstance(value, str) else value


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The secret. It is shown only in this response.")


class ApiKeyList(BaseModel):
    """The caller's API keys."""

    items: list[ApiKeyOut] = Field(description="Oldest first")


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=NewApiKeyOut, summary="Create an API key"
)
def create_api_key(
    body: ApiKeyIn,
    principal: PrincipalDep,
    api_keys: ApiKeyServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> NewApiKeyOut:
    """An API key acts as its owner, with the owner's permissions, until revoked or the owner is deactivated.
    `key` is shown only in this answer; Docent keeps only its hash."""
    created = api_keys.create(
        uow, principal, body.name, context, scopes=frozenset(body.scopes), expires_at=body.expires_at
    )
    return NewApiKeyOut.model_validate(
        {**ApiKeyOut.model_validate(created.record).model_dump(), "key": created.secret}
    )


@router.get("", response_model=ApiKeyList, summary="The caller's API keys (never their secrets)")
def list_api_keys(principal: PrincipalDep, api_keys: ApiKeyServiceDep, uow: ReadOnlyDep) -> Any:
    """The caller's own keys: name, prefix, when created and last used (updated at most once a minute). Never
    the secrets."""
    return {"items": api_keys.list(uow, principal)}


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key")
def revoke_api_key(
    key_id: uuid.UUID,
    principal: PrincipalDep,
    api_keys: ApiKeyServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> None:
    """The key stops working at once. Only the caller's own keys can be revoked."""
    api_keys.revoke(uow, principal, key_id, context)
