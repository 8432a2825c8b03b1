"""Request-scoped dependencies: the container, the unit of work, the caller and the caller's context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from docent.auth.audit import RequestContext
from docent.auth.policy import Principal, ensure_admin
from docent.container import Container
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login, or an API key.")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """The request's one transaction: committed when the route returns, rolled back if it raises."""
    database = get_container(request).database
    with database.unit_of_work(write=request.method not in _READ_METHODS) as uow:
        try:
            yield uow
        except DocentError as error:
            if error.keep_writes:
                uow.commit()
            raise
        uow.commit()


def request_context(request: Request) -> RequestContext:
    settings = get_container(request).settings
    ip = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if settings.trust_forwarded_for and forwarded:
        ip = forwarded.split(",")[0].strip()
    return RequestContext(ip=ip, request_id=request.state.request_id)


ContainerDep = Annotated[Container, Depends(get_container)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
ContextDep = Annotated[RequestContext, Depends(request_context)]


async def current_principal(
    request: Request,
    uow: UnitOfWorkDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise DocentError(ErrorCode.NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    auth = get_container(request).auth
    try:
        principal = await run_in_threadpool(auth.authenticate, uow, credentials.credentials)
    except DocentError as error:
        error.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
        raise
    request.state.user_id = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    ensure_admin(principal)
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
