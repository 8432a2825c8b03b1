"""Application factory: the only place that assembles the HTTP app."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

import docent
from docent.api import web
from docent.api.errors import install_error_handlers
from docent.api.mcp.http import MCP_PATH, McpEndpoint
from docent.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from docent.api.openapi import document_errors
from docent.api.routes import (
    admin,
    api_keys,
    auth,
    chat,
    documents,
    groups,
    health,
    jobs,
    me,
    oidc,
    openai_compat,
    search,
    session,
    sharing,
    sources,
    users,
)
from docent.api.security_headers import SecurityHeadersMiddleware
from docent.auth.users import BootstrapResult
from docent.config import ConfigurationError, Settings
from docent.container import Container, build_container
from docent.db import migrate
from docent.observability.logs import configure_logging, get_logger
from docent.observability.metrics import HttpMetrics

_log = get_logger(__name__)


def create_app(
    settings: Settings, container: Container | None = None, *, prepare_on_startup: bool = True
) -> FastAPI:
    """The ASGI app. `prepare_on_startup=False` when the caller already ran `prepare` (the CLI does, to fail
    with a clear message before the server starts)."""
    if not structlog.is_configured():  # never fall back to structlog's console renderer, which prints locals
        configure_logging(settings.log_level)
    container = container or build_container(settings)
    metrics = HttpMetrics()
    mcp_endpoint = McpEndpoint(container)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if prepare_on_startup:
            prepare(container)
        if settings.runs_embedded_worker:
            container.start_worker()
        container.warm_search()
        async with mcp_endpoint.running():
            yield
        container.close()

    app = FastAPI(
        title="Docent",
        version=docent.__version__,
        description="Grounded answers from your organisation's documents.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from docent.api.web, with no CDN
        redoc_url=None,
    )
    app.state.container = container
    app.state.metrics = metrics
    app.state.assets = web.build_assets()
    install_error_handlers(app)
    _add_middleware(app, settings, metrics)
    app.router.routes.append(Route(MCP_PATH, mcp_endpoint))  # an ASGI app of its own: MCP, not REST
    for module in _ROUTE_MODULES:
        document_errors(module.router)  # each operation lists the errors it can answer with
        app.include_router(module.router)
    return app


_ROUTE_MODULES = (
    auth,
    session,
    oidc,
    users,
    groups,
    api_keys,
    documents,
    sharing,
    sources,
    jobs,
    search,
    chat,
    admin,
    me,
    openai_compat,
    health,
    web,
)


def _add_middleware(app: FastAPI, settings: Settings, metrics: HttpMetrics) -> None:
    """Innermost first: the body cap, the security headers, the request context (ids, metrics, logs), CORS."""
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_json_body_kb * 1024,
        streamed=documents.STREAMED_UPLOADS,
        # every file at its largest, plus room for the form's other fields and the part headers
        max_streamed_bytes=settings.max_upload_bytes * settings.max_files_per_upload + 1024 * 1024,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    _allow_origins(app, settings)


def _allow_origins(app: FastAPI, settings: Settings) -> None:
    """CORS for DOCENT_CORS_ORIGINS (none by default). Added last, so outermost: a preflight is answered
    before anything else runs. Bearer tokens only: the web app's cookies never go cross-origin (no
    credentials), so its CSRF checks stay as they are."""
    if not settings.cors_origin_list:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["*"],  # the OpenAI SDKs send their own (x-stainless-*); no credentials ride on them
        expose_headers=["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        allow_credentials=False,
        max_age=600,
    )


def prepare(container: Container) -> None:
    """Start-up checks and the first admin of an empty installation."""
    if not migrate.is_up_to_date(container.database.engine):
        raise ConfigurationError("The database schema is not up to date: run `docent db upgrade` first.")
    container.check_index_model()
    settings = container.settings
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    with container.database.unit_of_work() as uow:
        created = container.users.bootstrap_admin(uow, settings.admin_email, password)
        uow.commit()
    if created is not None:
        _announce_first_admin(created)


def _announce_first_admin(created: BootstrapResult) -> None:
    _log.info("first_admin_created", email=created.user.email)
    if created.generated_password:
        # Shown once, on the console only: it is never logged, and never stored but as a hash.
        print(
            f"\nDocent created the first admin.\n  email:    {created.user.email}\n"
            f"  password: {created.generated_password}\nChange it after logging in.\n",
            file=sys.stderr,
            flush=True,
        )
