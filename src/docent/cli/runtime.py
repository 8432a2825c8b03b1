"""What the commands share: the settings, where logs go, a container that is ready, one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from docent.config import ConfigurationError, Settings
from docent.errors import DocentError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from docent.container import Container

# Commands that end (all but `serve` and `worker`) log here, under DOCENT_DATA_DIR, so that JSON lines never
# mix with a progress bar, an answer or an error message.
LOG_FILE = Path("logs") / "docent-cli.log"


class Run:
    """Where this process logs, so that an unexpected failure can point to its traceback."""

    log_file: Path | None = None


def load_settings(*, log_to_terminal: bool = False) -> Settings:
    """Settings from DOCENT_* and .env (one line naming the variable when one is wrong), then logging."""
    from docent.observability.logs import configure_logging

    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigurationError(settings_problem(exc)) from None
    log_file = None if log_to_terminal else settings.data_dir / LOG_FILE
    try:
        configure_logging(settings.log_level, file=log_file)
    except ValueError as exc:  # logging's own check of the level name
        raise ConfigurationError(f"DOCENT_LOG_LEVEL: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the log file {log_file} (DOCENT_DATA_DIR): {exc.strerror}"
        ) from None
    Run.log_file = log_file
    return settings


def settings_problem(exc: ValidationError) -> str:
    """Pydantic's errors as `DOCENT_NAME: what is wrong`, without the value (it may be a secret)."""
    parts = []
    for error in exc.errors(include_input=False):
        name = "DOCENT_" + "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "; ".join(parts) or "the settings are not valid"


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


@contextmanager
def ready_container(settings: Settings, *, queue: bool = False) -> Iterator[Container]:
    """The container, once its database is reachable and migrated (and the job queue reachable, when the
    command sends or runs jobs); closed on the way out, whatever happens."""
    from docent.container import build_container
    from docent.db.engine import build_engine

    engine = build_engine(settings.database_url)  # before the container: a missing schema fails fast
    try:
        check_schema(engine)
    finally:
        engine.dispose()
    with build_container(settings) as container:
        if queue:
            check_queue(container)
        yield container


def check_schema(engine: Engine) -> None:
    from docent.db import migrate

    current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    if current is None:
        raise ConfigurationError("the database has no schema yet: run `docent db upgrade` first")
    if current != head:
        raise ConfigurationError(
            f"the database schema is at revision {current}, this Docent needs {head}: "
            "run `docent db upgrade` first"
        )


def check_queue(container: Container) -> None:
    import redis.exceptions

    try:
        container.queue.ping()
    except redis.exceptions.RedisError as exc:
        raise ConfigurationError(f"cannot reach Redis (DOCENT_REDIS_URL): {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def explain(exc: Exception) -> str | None:
    """The one line that tells the operator what went wrong, for the failures a command can expect."""
    import redis.exceptions
    from sqlalchemy.exc import DBAPIError

    from docent.db.migrate import MigrationError

    if isinstance(exc, ConfigurationError | MigrationError):
        return str(exc)
    if isinstance(exc, DocentError):
        return exc.message
    if isinstance(exc, DBAPIError):
        return f"database error (DOCENT_DATABASE_URL): {first_line(exc.orig or exc)}"
    if isinstance(exc, redis.exceptions.RedisError):
        return f"Redis error (DOCENT_REDIS_URL): {first_line(exc)}"
    return None
