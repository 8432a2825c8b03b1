"""The `docent` command line. Settings are built here, once, and passed down."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from docent.config import ConfigurationError, Settings
from docent.errors import DocentError
from docent.types import Role

app = typer.Typer(help="Docent: grounded answers from your organisation's documents.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
index_app = typer.Typer(
    help="The search index: check it against the database, or rebuild it.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(index_app, name="index")


def _settings() -> Settings:
    from docent.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return settings


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default DOCENT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOCENT_PORT)")] = None,
) -> None:
    """Serve the HTTP API and the web page."""
    import uvicorn

    from docent.api.app import create_app, prepare
    from docent.container import build_container

    settings = _settings()
    try:
        container = build_container(settings)
        prepare(container)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from None
    application = create_app(settings, container, prepare_on_startup=False)
    typer.echo(
        f"Docent on http://{host or settings.host}:{port or settings.port} (API docs at /docs)", err=True
    )
    uvicorn.run(
        application, host=host or settings.host, port=port or settings.port, log_config=None, access_log=False
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from docent.db import migrate
    from docent.db.engine import build_engine

    engine = build_engine(_settings().database_url)
    migrate.upgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: one step back)")] = "-1",
) -> None:
    """Revert migrations down to REVISION."""
    from docent.db import migrate
    from docent.db.engine import build_engine

    engine = build_engine(_settings().database_url)
    migrate.downgrade(engine, revision)
    typer.echo(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email, used to log in")],
    role: Annotated[Role, typer.Option(help="admin or member")] = Role.MEMBER,
    password: Annotated[str | None, typer.Option(help="Asked for when not given")] = None,
    org: Annotated[str, typer.Option(help="Organisation slug; created if it does not exist")] = "default",
) -> None:
    """Create a user (and its organisation if new)."""
    from pydantic import TypeAdapter, ValidationError
    from pydantic.networks import EmailStr

    from docent.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
    from docent.container import build_container

    try:
        TypeAdapter(EmailStr).validate_python(email)
    except ValidationError:
        raise _fail(f"not a valid email address: {email!r}") from None
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise _fail(f"the password must have {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    settings = _settings()
    container = build_container(settings)
    try:
        with container.database.unit_of_work() as uow:
            user = container.users.create_in_org(uow, org, email, password, role)
            uow.commit()
    except DocentError as exc:
        raise _fail(exc.message) from None
    finally:
        container.close()
    typer.echo(f"created {user.role} {user.email} ({user.id}) in organisation {org!r}")


@app.command()
def worker() -> None:
    """Run ingestion jobs from the queue until stopped (SIGTERM or Ctrl-C finish the current batch)."""
    import signal
    import threading

    from docent.container import build_container

    container = build_container(_settings())
    container.check_index_model()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    container.start_worker()
    typer.echo("docent worker running", err=True)
    stop.wait()
    container.close()


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively)", exists=True)],
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for every document (repeatable)")
    ] = None,
    visibility: Annotated[str, typer.Option(help="private, group or org")] = "org",
    owner: Annotated[
        str | None, typer.Option(help="Email of the owning user (default: DOCENT_ADMIN_EMAIL)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="Organisation slug, when the email is in several")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until every document is indexed")] = True,
) -> None:
    """Ingest files and folders as one batch, with a progress bar."""
    from docent.container import build_container
    from docent.ingest.bulk import collect_files, submit_batch
    from docent.ingest.service import UploadOptions, Visibility, normalise_tags

    settings = _settings()
    container = build_container(settings)
    try:
        with container.database.unit_of_work() as uow:
            principal = container.auth.local_principal(uow, owner or settings.admin_email, org)
        options = UploadOptions(visibility=Visibility(visibility), tags=normalise_tags(tag or []))
        files = collect_files(paths)
        submitted = submit_batch(
            container.database,
            container.blobs,
            container.documents,
            principal,
            files,
            options,
            settings.max_upload_bytes,
        )
        for path, reason in submitted.rejected:
            typer.secho(f"skipped {path}: {reason}", fg=typer.colors.YELLOW, err=True)
        typer.echo(
            f"batch {submitted.batch_id}: {submitted.accepted} accepted, "
            f"{submitted.duplicates} already present, {len(submitted.rejected)} skipped",
            err=True,
        )
        counts = _wait_for_batch(container, submitted.batch_id, submitted.accepted) if wait else {}
    except (DocentError, ValueError) as exc:
        raise _fail(getattr(exc, "message", str(exc))) from None
    finally:
        container.close()
    if counts.get("failed"):
        typer.secho(f"{counts['failed']} failed: see GET /api/v1/jobs?batch={submitted.batch_id}", err=True)
        raise typer.Exit(code=1)


def _wait_for_batch(container: Any, batch_id: str, total: int) -> dict[str, int]:
    import time

    from rich.progress import Progress

    if container.settings.runs_embedded_worker:
        container.start_worker()
    counts: dict[str, int] = {}
    with Progress(transient=False) as progress:
        bar = progress.add_task("indexing", total=total)
        while True:
            with container.database.unit_of_work(write=False) as uow:
                counts = uow.jobs.batch_counts(batch_id)
            finished = counts.get("completed", 0) + counts.get("failed", 0)
            progress.update(bar, completed=finished)
            if finished >= sum(counts.values()):
                return counts
            time.sleep(0.5)


@index_app.command("check")
def index_check() -> None:
    """Report every disagreement between chunks, vectors, keyword rows and files; exit 1 if any."""
    from docent.container import build_container
    from docent.search.index_check import check_index

    container = build_container(_settings())
    try:
        report = check_index(container.database, container.blobs)
    finally:
        container.close()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Re-derive keyword rows and vectors (re-embedding only what another model made); remove strays."""
    from docent.container import build_container
    from docent.search.index_check import rebuild_index

    container = build_container(_settings())
    try:
        report = rebuild_index(container.database, container.blobs, container.embedder)
    finally:
        container.close()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _print_report(report: Any) -> None:
    typer.echo(f"chunks: {report.chunks}  embedding model: {report.embedding_model or '-'}")
    for kind, count in report.problems.items():
        typer.echo(f"  {kind}: {count}")
    typer.echo("index is consistent" if report.ok else "index has problems: run `docent index rebuild`")


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
