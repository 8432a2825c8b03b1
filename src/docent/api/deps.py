"""Request-scoped dependencies: the caller, the request's unit of work, and the services routes call.

Three rules keep transactions (and SQLite's one write lock) out of route signatures:

* `PrincipalDep` authenticates the caller in a short read-only unit of work of its own, for every route:
  it never takes the write lock, so a read neither waits for ingestion nor holds it up. Nothing is written
  to authenticate; an API key's last use is recorded after the response (`KeyUseRecorder`).
* `ReadOnlyDep` is the unit of work of a route that only reads, whatever its method; a hot read route
  (POST /search) awaits `ReadOnlyCallDep` instead, the same unit of work in fewer thread hand-offs.
* `TransactionDep` is the one transaction of a route that writes: committed when the route returns, rolled
  back if it raises, except that an error raised with `keep_writes` (a failed login, a reused refresh token
  revoking its family) commits what was recorded first. It is lazy: SQLAlchemy begins the transaction (on
  SQLite `BEGIN IMMEDIATE`, the write lock) only when the route first touches the database, so a route that
  streams an upload or fetches a URL before writing holds no lock while it waits. That is why there is no
  second kind of transaction for such routes: they take this one, and touch it only once they write.

Routes are given the service they use (`ChatServiceDep`, `DocumentServiceDep`, ...), never the container.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from docent.answer.budgets import BudgetService
from docent.answer.feedback import FeedbackService
from docent.answer.history import ChatHistory
from docent.answer.service import ChatService
from docent.api import session as web_session
from docent.api.client_address import client_address
from docent.api.streaming import EventStreams
from docent.auth.access import AccessRecorder, AccessService
from docent.auth.api_keys import ApiKeyService
from docent.auth.audit import AuditService, RequestContext
from docent.auth.groups import GroupService
from docent.auth.policy import Principal, Scope, ensure_admin, ensure_scope
from docent.auth.rate_limits import RateLimitKind, StreamSlots, subject_of
from docent.auth.service import AuthService
from docent.auth.sso import SsoService
from docent.auth.users import UserService
from docent.config import Settings
from docent.container import Container
from docent.db.uow import Database, UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.ingest.from_url import UrlIngestService
from docent.ingest.service import DocumentService
from docent.ingest.sharing import SharingService
from docent.ingest.sources import SourceService
from docent.jobs.service import JobService
from docent.llm.ports import Embedder
from docent.search.maintenance import IndexMaintenance
from docent.search.retrieve import Retriever
from docent.storage.blobs import BlobStore

Result = TypeVar("Result")

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login, or an API key.")


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _part(read: Callable[[Container], Any]) -> Any:
    """A dependency giving one part of the app's container. `read` must not wait on anything (it runs on
    the event loop: a plain `def` dependency costs a hop to a worker thread and back per request)."""

    async def dependency(request: Request) -> Any:
        return read(_container(request))

    return Depends(dependency)


def _readiness(request: Request) -> dict[str, str]:
    return _container(request).readiness()  # pings the database and the queue: in a worker thread


SettingsDep = Annotated[Settings, _part(lambda c: c.settings)]
AuthServiceDep = Annotated[AuthService, _part(lambda c: c.auth)]
UserServiceDep = Annotated[UserService, _part(lambda c: c.users)]
SsoServiceDep = Annotated[SsoService | None, _part(lambda c: c.sso)]
GroupServiceDep = Annotated[GroupService, _part(lambda c: c.groups)]
ApiKeyServiceDep = Annotated[ApiKeyService, _part(lambda c: c.api_keys)]
AccessRecorderDep = Annotated[AccessRecorder, _part(lambda c: c.access)]
AccessServiceDep = Annotated[AccessService, _part(lambda c: c.access_log)]
AuditServiceDep = Annotated[AuditService, _part(lambda c: c.audit)]
DocumentServiceDep = Annotated[DocumentService, _part(lambda c: c.documents)]
SharingServiceDep = Annotated[SharingService, _part(lambda c: c.sharing)]
UrlIngestServiceDep = Annotated[UrlIngestService, _part(lambda c: c.url_ingest)]
SourceServiceDep = Annotated[SourceService, _part(lambda c: c.sources)]
BlobStoreDep = Annotated[BlobStore, _part(lambda c: c.blobs)]
JobServiceDep = Annotated[JobService, _part(lambda c: c.jobs)]
RetrieverDep = Annotated[Retriever, _part(lambda c: c.retriever)]
ChatServiceDep = Annotated[ChatService, _part(lambda c: c.chat)]
ChatHistoryDep = Annotated[ChatHistory, _part(lambda c: c.history)]
FeedbackServiceDep = Annotated[FeedbackService, _part(lambda c: c.feedback)]
BudgetServiceDep = Annotated[BudgetService, _part(lambda c: c.budgets)]
EmbedderDep = Annotated[Embedder, _part(lambda c: c.embedder)]
IndexMaintenanceDep = Annotated[
    IndexMaintenance, _part(lambda c: IndexMaintenance(c.database, c.blobs, c.embedder, c.retriever))
]
EventStreamsDep = Annotated[EventStreams, _part(lambda c: EventStreams(c.settings.sse_ping_seconds))]
ReadinessDep = Annotated[dict[str, str], Depends(_readiness)]
StreamSlotsDep = Annotated[StreamSlots, _part(lambda c: c.streams)]


# ---------- units of work ----------


def read_only(request: Request) -> Iterator[UnitOfWork]:
    with _container(request).database.unit_of_work(write=False) as uow:
        yield uow


def transaction(request: Request) -> Iterator[UnitOfWork]:
    with _container(request).database.unit_of_work() as uow:
        try:
            yield uow
        except DocentError as error:
            if error.keep_writes:
                uow.commit()
            raise
        uow.commit()


ReadOnlyDep = Annotated[UnitOfWork, Depends(read_only, scope="function")]
TransactionDep = Annotated[UnitOfWork, Depends(transaction, scope="function")]


class ReadOnlyCall:
    """`await read_only(work)`: `work(uow)` in a read-only unit of work of its own, in one worker thread.

    For the hot read routes (POST /search), declared `async`. A plain `def` route with `ReadOnlyDep` is
    handed between the event loop and a worker thread four times (opening the unit of work, the route,
    checking its response, closing the unit of work); this is one. A keyword search at 100k chunks took
    about 2 ms less at p50 (of 13-16 ms), the two kinds of route side by side in one app."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def __call__(self, work: Callable[[UnitOfWork], Result]) -> Result:
        return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[UnitOfWork], Result]) -> Result:
        with self._database.unit_of_work(write=False) as uow:
            return work(uow)


ReadOnlyCallDep = Annotated[ReadOnlyCall, _part(lambda c: ReadOnlyCall(c.database))]


async def request_context(request: Request, settings: SettingsDep) -> RequestContext:
    return RequestContext(ip=client_address(request, settings), request_id=request.state.request_id)


ContextDep = Annotated[RequestContext, Depends(request_context)]


# ---------- the caller ----------

BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _credential(request: Request, bearer: HTTPAuthorizationCredentials | None) -> tuple[str | None, bool]:
    """The caller's credential, and whether it came from the web app's session cookie (then the request
    must also pass the CSRF checks): the one place a credential source is added."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials, False
    cookie = web_session.access_cookie(request)
    return (cookie, True) if cookie else (None, False)


_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes that are POSTed but only read documents: an API key with the scope `read` may call them.
_READING_POSTS = ("/api/v1/search", "/api/v1/chat", "/v1/chat/completions", "/v1/embeddings", "/mcp")


def required_scope(method: str, path: str) -> Scope:
    """The scope an API key needs for a request: `read` to read, search and chat, `write` for anything
    else (the scope `admin` is asked where the admin role is, `Principal.is_admin`)."""
    if method in _READING_METHODS or path.startswith(_READING_POSTS):
        return Scope.READ
    return Scope.WRITE


async def current_principal(request: Request, background: BackgroundTasks, bearer: BearerDep) -> Principal:
    credential, from_cookie = _credential(request, bearer)
    container = _container(request)
    if credential is None:
        await run_in_threadpool(_count_anonymous, request)
        raise DocentError(ErrorCode.NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = await run_in_threadpool(_authenticate, container, credential)
    except DocentError:
        await run_in_threadpool(_count_anonymous, request)
        raise
    ensure_scope(principal, required_scope(request.method, request.url.path))
    if from_cookie:
        csrf = container.auth.session_csrf_token(principal.family_id or principal.user_id)
        web_session.ensure_csrf(request, csrf)
    key_id = principal.api_key_id
    if key_id is not None and container.key_uses.due(key_id):
        background.add_task(container.key_uses.record, key_id)  # after the response, in a thread
    request.state.user_id = str(principal.user_id)
    structlog.contextvars.bind_contextvars(user_id=str(principal.user_id))
    return principal


def _authenticate(container: Container, credential: str) -> Principal:
    with container.database.unit_of_work(write=False) as uow:
        try:
            return container.auth.authenticate(uow, credential)
        except DocentError as error:
            error.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
            raise


PrincipalDep = Annotated[Principal, Depends(current_principal)]


# ---------- rate limits ----------


def _count_anonymous(request: Request) -> None:
    """Count a request that carries no valid credential against its address's ceiling (429 past it)."""
    container = _container(request)
    address = client_address(request, container.settings) or "unknown"
    quota = container.rate_limits.hit(RateLimitKind.ANONYMOUS, f"address:{address}")
    request.state.rate_limit = quota.headers()


def anonymous_limit(request: Request) -> None:
    _count_anonymous(request)


def rate_limit(kind: RateLimitKind) -> Any:
    """A route dependency: counts the request against the caller's `kind` limit before the route reads its
    body or does any work (429 `rate_limited` past it). The `RateLimit-*` headers are added to the response
    by `RequestContextMiddleware`, whatever kind of response the route returns."""

    def dependency(request: Request, principal: PrincipalDep) -> None:
        quota = _container(request).rate_limits.hit(kind, subject_of(principal))
        request.state.rate_limit = quota.headers()

    return Depends(dependency)


AnonymousLimit = Depends(anonymous_limit)


async def require_admin(principal: PrincipalDep) -> Principal:
    ensure_admin(principal)
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
