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
    """Run ingestion jobs from the queue until stopped (SIGTERM or Ctrl-C: a parse in flight is killed and
    its job queued again; embedding in progress is finished)."""
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
    from docent.ingest.bulk import collect_files, path_sources, submit_batch
    from docent.ingest.service import UploadOptions, Visibility, normalise_tags

    settings = _settings()
    container = build_container(settings)
    try:
        with container.database.unit_of_work() as uow:
            principal = container.auth.local_principal(uow, owner or settings.admin_email, org)
        options = UploadOptions(visibility=Visibility(visibility), tags=normalise_tags(tag or []))
        files = path_sources(collect_files(paths))
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


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    mode: Annotated[str, typer.Option(help="hybrid, vector or keyword")] = "hybrid",
    top_k: Annotated[int, typer.Option("--top-k", help="How many results (1-100)")] = 10,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Search as this user's email (default: DOCENT_ADMIN_EMAIL)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="Organisation slug, when the email is in several")] = None,
) -> None:
    """Search the documents a user may read and print the ranked chunks."""
    from docent.container import build_container
    from docent.search.retrieve import SearchMode

    try:
        search_mode = SearchMode(mode)
    except ValueError:
        raise _fail("--mode is hybrid, vector or keyword") from None
    settings = _settings()
    container = build_container(settings)
    try:
        container.check_index_model()
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, as_user or settings.admin_email, org)
            scope = container.documents.scope(uow, principal)
            response = container.retriever.search(uow, scope, query, mode=search_mode, top_k=top_k)
    except DocentError as exc:
        raise _fail(exc.message) from None
    finally:
        container.close()
    _print_results(response)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    session: Annotated[
        str | None, typer.Option("--session", help="Continue this chat session (its id)")
    ] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Ask as this user's email (default: DOCENT_ADMIN_EMAIL)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="Organisation slug, when the email is in several")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="One answerer of DOCENT_LLM_PROVIDERS (`provider:model`) instead of the chain"),
    ] = None,
) -> None:
    """Ask a question of the documents a user may read: the answer as it is written, then its sources."""
    import uuid

    from docent.container import build_container

    try:
        session_id = uuid.UUID(session) if session else None
    except ValueError:
        raise _fail("--session is a session id (a UUID)") from None
    settings = _settings()
    container = build_container(settings)
    try:
        container.check_index_model()
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, as_user or settings.admin_email, org)
        prepared = container.chat.prepare(principal, question, session_id=session_id, model=model)
        failed = _print_stream(container.chat.stream(prepared))
    except DocentError as exc:
        raise _fail(exc.message) from None
    finally:
        container.close()
    typer.echo(f"session {prepared.session_id}", err=True)
    if failed:
        raise typer.Exit(code=1)


def _print_stream(events: Any) -> bool:
    """Print tokens as they come, then the numbered sources; True when the stream ended in an error."""
    from docent.answer.events import Citations, Error, Token

    for event in events:
        if isinstance(event, Token):
            typer.echo(event.text, nl=False)
        elif isinstance(event, Citations):
            typer.echo()
            for citation in event.citations:
                where = [f"v{citation.version}"]
                if citation.page is not None:
                    where.append(f"page {citation.page}")
                if citation.section:
                    where.append(" > ".join(citation.section))
                typer.echo(f"[{citation.number}] {citation.title} ({', '.join(where)})")
                typer.echo(f"    {citation.snippet}")
        elif isinstance(event, Error):
            typer.echo()
            typer.secho(f"error: {event.message}", fg=typer.colors.RED, err=True)
            return True
    return False


def _print_results(response: Any) -> None:
    if not response.results:
        typer.echo("no results")
    for rank, result in enumerate(response.results, start=1):
        where = [f"v{result.version}"]
        if result.page is not None:
            where.append(f"page {result.page}")
        if result.section:
            where.append(" > ".join(result.section))
        typer.echo(f"{rank:>3}. {result.score:.4f}  {result.title}  ({', '.join(where)})")
        typer.echo(f"     {result.snippet}")
        typer.echo(f"     document {result.document_id}  chunk {result.chunk_id}")
    typer.echo(f"{len(response.results)} results, {response.mode} mode, {response.took_ms:.1f} ms", err=True)


@index_app.command("check")
def index_check() -> None:
    """Report every disagreement between chunks, vectors, keyword rows and files; exit 1 if any."""
    from docent.container import build_container
    from docent.search.index_check import check_index

    container = build_container(_settings())
    try:
        report = check_index(
            container.database, container.blobs, container.retriever.vectors, container.retriever.keywords
        )
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
        report = rebuild_index(
            container.database,
            container.blobs,
            container.embedder,
            vectors=container.retriever.vectors,
            keywords=container.retriever.keywords,
        )
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


@app.command("eval")
def eval_retrieval(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/", exists=True)
    ],
    mode: Annotated[
        list[str] | None, typer.Option(help="hybrid, vector or keyword (repeatable; default all)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N corpus documents")] = None,
    split: Annotated[str, typer.Option(help="Which qrels file: test, train or dev")] = "test",
    database_url: Annotated[
        str | None, typer.Option(help="An EMPTY database to use (default: a temp SQLite)")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here")] = None,
) -> None:
    """Retrieval quality (nDCG@10, Recall@10/100, MRR@10) on a BEIR folder, in a throw-away database."""
    import dataclasses
    import json

    from rich.progress import Progress

    from docent.evaluation import run_evaluation, throwaway_container
    from docent.search.beir import BeirFormatError
    from docent.search.retrieve import SearchMode

    try:
        modes = [SearchMode(m) for m in (mode or ["hybrid", "vector", "keyword"])]
    except ValueError:
        raise _fail("a mode is hybrid, vector or keyword") from None
    with Progress() as bar, throwaway_container(_settings(), database_url) as container:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            task = tasks.get(stage)
            if task is None:
                task = tasks[stage] = bar.add_task(stage, total=total)
            bar.update(task, completed=done, total=total)

        try:
            report = run_evaluation(
                container, dataset, modes=modes, split=split, limit=limit, progress=progress
            )
        except BeirFormatError as exc:
            raise _fail(str(exc)) from None
    typer.echo(
        f"{report.dataset} ({report.split}): {report.documents} documents, {report.chunks} chunks, "
        f"{report.queries} queries; {report.database}; ingested in {report.ingest_seconds} s"
    )
    typer.echo(f"{'mode':<8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'ms/query':>9}")
    for name, figures in report.modes.items():
        typer.echo(
            f"{name:<8} {figures['ndcg@10']:8.4f} {figures['recall@10']:7.4f} "
            f"{figures['recall@100']:7.4f} {figures['mrr@10']:7.4f} {report.query_ms[name]:9.1f}"
        )
    if output:
        output.write_text(json.dumps(dataclasses.asdict(report), indent=2))


def main() -> None:
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
