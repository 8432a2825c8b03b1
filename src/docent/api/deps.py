"""Request-scoped dependencies: the container, the unit of work, the caller and the caller's context."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from docent.api import session as web_session
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


def read_unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """A read-only transaction for routes that only read, whatever their method (e.g. POST /search): on
    SQLite it never takes the write lock, so it neither waits for ingestion nor holds it up."""
    with get_container(request).database.unit_of_work(write=False) as uow:
        yield uow


ContainerDep = Annotated[Container, Depends(get_container)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
ReadUnitOfWorkDep = Annotated[UnitOfWork, Depends(read_unit_of_work, scope="function")]
ContextDep = Annotated[RequestContext, Depends(request_context)]


CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def current_principal(request: Request, uow: UnitOfWorkDep, credentials: CredentialsDep) -> Principal:
    return await _authenticate(request, uow, credentials)


async def standalone_principal(request: Request, credentials: CredentialsDep) -> Principal:
    """The caller, authenticated in a transaction of its own that ends at once: for routes that read a long
    body (uploads) or wait on the network (URL fetches) before they write, so SQLite's write lock is not
    held all that time; the route's own unit of work begins only when it first touches the database."""
    database = get_container(request).database

    def authenticate() -> Principal:
        with database.unit_of_work() as uow:
            try:
                principal = _authenticate_sync(request, uow, credentials)
            except DocentError as error:
                if error.keep_writes:
                    uow.commit()
                raise
            uow.commit()
            return principal

    principal = await run_in_threadpool(authenticate)
    _bind_user(request, principal)
    return principal


async def _authenticate(
    request: Request, uow: UnitOfWork, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    principal = await run_in_threadpool(_authenticate_sync, request, uow, credentials)
    _bind_user(request, principal)
    return principal


def _authenticate_sync(
    request: Request, uow: UnitOfWork, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    # No Authorization header: the web app's session cookie, which must pass the CSRF checks.
    bearer = credentials.credentials if credentials is not None else ""
    token = bearer or web_session.access_cookie(request)
    if not token:
        raise DocentError(ErrorCode.NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    auth = get_container(request).auth
    try:
        principal = auth.authenticate(uow, token)
    except DocentError as error:
        error.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
        raise
    if not bearer:
        web_session.ensure_csrf(request, auth.session_csrf_token(principal.family_id or principal.user_id))
    return principal


def _bind_user(request: Request, principal: Principal) -> None:
    request.state.user_id = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StandalonePrincipalDep = Annotated[Principal, Depends(standalone_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    ensure_admin(principal)
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def require_standalone_admin(principal: StandalonePrincipalDep) -> Principal:
    """An admin, authenticated in a transaction of its own: for routes that run their own transactions
    (an index rebuild), which must not wait for a write lock their own request holds."""
    ensure_admin(principal)
    return principal
