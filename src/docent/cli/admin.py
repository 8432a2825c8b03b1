"""Operating commands: serve, worker, the schema, user accounts, the search index."""

from __future__ import annotations

import getpass
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from docent.cli.runtime import fail, load_settings, ready_container
from docent.types import Role

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default DOCENT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOCENT_PORT)")] = None,
) -> None:
    """Serve the HTTP API and the web page."""
    import uvicorn

    from docent.api.app import create_app, prepare

    settings = load_settings(log_to_terminal=True)
    with ready_container(settings) as container:
        prepare(container)
        application = create_app(settings, container, prepare_on_startup=False)
        typer.echo(
            f"Docent on http://{host or settings.host}:{port or settings.port} (API docs at /docs)", err=True
        )
        uvicorn.run(
            application,
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
            # uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as the client's address, and anyone
            # on this machine could pick the address a per-address limit counts. Docent reads the header
            # itself, only with DOCENT_TRUST_FORWARDED_FOR and from DOCENT_FORWARDED_ALLOW_IPS.
            proxy_headers=False,
            forwarded_allow_ips="",
        )


def worker() -> None:
    """Run ingestion jobs from the queue until stopped (SIGTERM or Ctrl-C: a parse in flight is killed and
    its job queued again; embedding in progress is finished)."""
    import signal
    import threading

    with ready_container(load_settings(log_to_terminal=True), queue=True) as container:
        container.check_index_model()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        container.start_worker()
        typer.echo("docent worker running", err=True)
        stop.wait()


def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from docent.db import migrate

    _migrate(migrate.upgrade, revision)


def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: one step back)")] = "-1",
) -> None:
    """Revert migrations down to REVISION."""
    from docent.db import migrate

    _migrate(migrate.downgrade, revision)


def _migrate(step: Callable[[Engine, str], None], revision: str) -> None:
    from docent.db import migrate
    from docent.db.engine import build_engine

    engine = build_engine(load_settings().database_url)
    try:
        step(engine, revision)
        typer.echo(f"database at revision {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


def users_create(
    email: Annotated[str, typer.Option(help="The user's email, used to log in")],
    role: Annotated[Role, typer.Option(help="admin or member")] = Role.MEMBER,
    password: Annotated[
        str | None,
        typer.Option(help="Asked for twice on a terminal; without one, a strong password is made and shown"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")
    ] = False,
    org: Annotated[str, typer.Option(help="Organisation slug; created if it does not exist")] = "default",
) -> None:
    """Create a user (and its organisation if new)."""
    from pydantic import TypeAdapter, ValidationError
    from pydantic.networks import EmailStr

    try:
        TypeAdapter(EmailStr).validate_python(email)
    except ValidationError:
        raise fail(f"not a valid email address: {email!r}") from None
    with ready_container(load_settings()) as container:
        chosen, generated = _password(password, password_stdin)
        with container.database.unit_of_work() as uow:
            user = container.users.create_in_org(uow, org, email, chosen, role)
            uow.commit()
            typer.echo(f"created {user.role} {user.email} ({user.id}) in organisation {org!r}")
    if generated:
        # Shown once, here only: it is never logged, and stored only as a hash.
        typer.echo(f"password: {chosen}  (shown once; change it after logging in)")


def _password(given: str | None, from_stdin: bool) -> tuple[str, bool]:
    """The password to set, and whether it was made here."""
    from docent.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    if given is not None and from_stdin:
        raise fail("give --password or --password-stdin, not both")
    if from_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
    elif given is None and sys.stdin.isatty():
        given = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != given:
            raise fail("the two passwords differ")
    elif given is None:
        return secrets.token_urlsafe(18), True
    if not MIN_PASSWORD_LENGTH <= len(given) <= MAX_PASSWORD_LENGTH:
        raise fail(f"the password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return given, False


def index_check() -> None:
    """Report every disagreement between chunks, vectors, keyword rows and files; exit 1 if any."""
    from docent.search.index_check import check_index

    with ready_container(load_settings()) as container:
        report = check_index(
            container.database, container.blobs, container.retriever.vectors, container.retriever.keywords
        )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def index_rebuild() -> None:
    """Re-derive keyword rows and vectors (re-embedding only what another model made); remove strays."""
    from docent.search.index_check import rebuild_index

    with ready_container(load_settings()) as container:
        report = rebuild_index(
            container.database,
            container.blobs,
            container.embedder,
            vectors=container.retriever.vectors,
            keywords=container.retriever.keywords,
        )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _print_report(report: Any) -> None:
    typer.echo(f"chunks: {report.chunks}  embedding model: {report.embedding_model or '-'}")
    for kind, count in report.problems.items():
        typer.echo(f"  {kind}: {count}")
    typer.echo("index is consistent" if report.ok else "index has problems: run `docent index rebuild`")
