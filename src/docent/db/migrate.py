"""Schema migrations, run programmatically (`docent db upgrade`) on either database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

SCRIPT_LOCATION = "docent.db:migrations"


class MigrationError(Exception):
    """A migration that cannot run as asked (an unknown revision, a target on the wrong side)."""


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolates %
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _refusals(engine), engine.begin() as connection:
        config = _config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _refusals(engine), engine.begin() as connection:
        config = _config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def _refusals(engine: Engine) -> Iterator[None]:
    try:
        yield
    except CommandError as exc:
        known = [script.revision for script in ScriptDirectory.from_config(_config(engine)).walk_revisions()]
        raise MigrationError(f"{exc} (revisions: {', '.join(sorted(known))}, head, base, -N, +N)") from None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(_config(engine)).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)
