"""The `docent` command line. Settings are built here, once, and passed down."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from docent.config import ConfigurationError, Settings
from docent.types import Role

app = typer.Typer(help="Docent: grounded answers from your organisation's documents.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")


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
    from docent.errors import DocentError

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


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
