"""Reading commands: search, ask, and the retrieval evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from docent.cli.runtime import fail, load_settings, ready_container


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
    from docent.search.retrieve import SearchMode

    try:
        search_mode = SearchMode(mode)
    except ValueError:
        raise fail("--mode is hybrid, vector or keyword") from None
    settings = load_settings()
    with ready_container(settings) as container:
        container.check_index_model()
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, as_user or settings.admin_email, org)
            scope = container.documents.scope(uow, principal)
            response = container.retriever.search(uow, scope, query, mode=search_mode, top_k=top_k)
    _print_results(response)


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

    try:
        session_id = uuid.UUID(session) if session else None
    except ValueError:
        raise fail("--session is a session id (a UUID)") from None
    settings = load_settings()
    with ready_container(settings) as container:
        container.check_index_model()
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, as_user or settings.admin_email, org)
        prepared = container.chat.prepare(principal, question, session_id=session_id, model=model)
        failed = _print_stream(container.chat.stream(prepared))
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


def eval_retrieval(
    dataset: Annotated[
        Path, typer.Argument(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/", exists=True)
    ],
    mode: Annotated[
        list[str] | None, typer.Option(help="hybrid, vector or keyword (repeatable; default all)")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help="Only the first N corpus documents, and the queries all of whose documents they hold"
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Which qrels file: test, train or dev (or several: train+test)")
    ] = "test",
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
        raise fail("a mode is hybrid, vector or keyword") from None
    settings = load_settings()
    with Progress() as bar, throwaway_container(settings, database_url) as container:
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
            raise fail(str(exc)) from None
    _print_report(report)
    if output:
        output.write_text(json.dumps(dataclasses.asdict(report), indent=2))


def _print_report(report: Any) -> None:
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


def mcp(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="DOCENT_MCP_API_KEY",
            help="The API key whose user the tools run as (better given as DOCENT_MCP_API_KEY)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the MCP tools (search, ask, list_documents) over stdin/stdout, for desktop MCP clients."""
    from docent.api.mcp.stdio import serve_stdio
    from docent.auth.tokens import looks_like_api_key

    if not api_key or not looks_like_api_key(api_key.strip()):
        raise fail("`docent mcp` needs an API key: set DOCENT_MCP_API_KEY (or pass --api-key)")
    settings = load_settings()
    with ready_container(settings) as container:
        container.check_index_model()
        container.warm_search()
        serve_stdio(container, api_key.strip())
