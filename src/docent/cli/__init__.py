"""The `docent` command line. Settings are built here, once, and passed down.

Every failure ends as one line on stderr (`error: …`) and a non-zero exit: 2 for what the operator can
fix (settings, arguments, a database to migrate, a service out of reach), 1 for the rest.
"""

from __future__ import annotations

import sys
import traceback

import typer

from docent.cli import admin, reading
from docent.cli.ingest import ingest, sync
from docent.cli.migrate import index_migrate
from docent.cli.runtime import Run, explain, first_line

app = typer.Typer(help="Docent: grounded answers from your organisation's documents.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
index_app = typer.Typer(
    help="The search index: check it, rebuild it, or migrate it to another embedding model.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(index_app, name="index")

app.command()(admin.serve)
app.command()(admin.worker)
app.command()(ingest)
app.command()(sync)
app.command()(reading.search)
app.command()(reading.ask)
app.command("eval")(reading.eval_retrieval)
app.command()(reading.mcp)
db_app.command("upgrade")(admin.db_upgrade)
db_app.command("downgrade")(admin.db_downgrade)
users_app.command("create")(admin.users_create)
index_app.command("check")(admin.index_check)
index_app.command("rebuild")(admin.index_rebuild)
index_app.command("migrate")(index_migrate)


def main() -> None:
    sys.exit(run())


def run() -> int:
    """Run the command; the exit code."""
    try:
        result = app(standalone_mode=False)
    except typer.TyperException as exc:  # the argument parser's own errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help (rich already printed it)
            if exc.format_message():
                typer.echo(exc.format_message(), err=True)
            return exc.exit_code
        context = getattr(exc, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        return _error(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
    except typer.Abort:
        return _error("aborted", 1)
    except Exception as exc:  # the command line's boundary: any failure is one line, never a traceback
        known = explain(exc)
        if known is not None:
            return _error(known, 2)
        return _error(_unexpected(exc), 1)
    return result if isinstance(result, int) else 0


def _error(message: str, code: int) -> int:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return code


def _unexpected(exc: Exception) -> str:
    """A failure no command expects: its traceback goes to the log file, if this command has one."""
    where = ""
    if Run.log_file is not None:
        try:
            with Run.log_file.open("a", encoding="utf-8") as log:
                log.write("".join(traceback.format_exception(exc)))
            where = f" (traceback in {Run.log_file})"
        except OSError:
            pass
    return f"unexpected {type(exc).__name__}: {first_line(exc)}{where}"
