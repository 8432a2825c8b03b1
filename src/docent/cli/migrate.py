"""`docent index migrate`: change the embedding model without a moment in which anything is unsearchable.

The steps and why they are safe: `docent.search.migration`. What the report measures:
`docent.search.migration_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docent.cli.runtime import fail, load_settings, ready_container

if TYPE_CHECKING:
    from docent.container import Container
    from docent.llm.ports import Embedder
    from docent.search.migration import EmbedderSpec, MigrationStatus

SWITCH_ATTEMPTS = 3  # catch-up then switch; ingestion may add chunks in between, each round fewer


def index_migrate(
    embedder: Annotated[
        str | None, typer.Option(help="The new model, as DOCENT_EMBEDDER names one (local:… or openai:…)")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="onnx, onnx-int8 or torch, for a local model (default: DOCENT_EMBEDDER_BACKEND)"),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="The new model's server, for openai:…")] = None,
    dimension: Annotated[int | None, typer.Option(help="The new model's dimension, for openai:…")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Chunks embedded per transaction")] = 256,
    eval_folder: Annotated[
        Path | None, typer.Option("--eval", exists=True, file_okay=False, help="A BEIR folder to compare on")
    ] = None,
    eval_limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N documents of --eval")
    ] = None,
    show_status: Annotated[bool, typer.Option("--status", help="Show the migration's progress")] = False,
    switch: Annotated[bool, typer.Option("--switch", help="Make the new model live (atomically)")] = False,
    abort: Annotated[bool, typer.Option("--abort", help="Drop the new model's vectors")] = False,
    drop_previous: Annotated[
        bool,
        typer.Option("--drop-previous", help="Drop the replaced model's vectors (every server restarted)"),
    ] = False,
) -> None:
    """Build a new embedding model's vectors beside the live ones (resumable, while Docent keeps serving),
    compare both models on rated answers and a BEIR folder, then `--switch` (or `--abort`)."""
    from docent.search import migration

    actions = [embedder is not None, show_status, switch, abort, drop_previous]
    if sum(actions) != 1:
        raise fail("give one of --embedder, --status, --switch, --abort or --drop-previous")
    settings = load_settings()
    with ready_container(settings) as container:
        database = container.database
        if show_status:
            _echo_status(migration.status(database))
        elif abort:
            migration.abort(database)
            typer.echo("migration aborted: the new model's vectors are dropped")
        elif drop_previous:
            typer.echo(f"dropped {migration.drop_previous(database)} vectors of the previous model")
        elif switch:
            _switch(container, batch_size)
        else:
            assert embedder is not None
            spec = migration.EmbedderSpec(embedder, backend or settings.embedder_backend, base_url, dimension)
            _migrate(container, spec, batch_size, eval_folder, eval_limit)


def _migrate(
    container: Container, spec: EmbedderSpec, batch_size: int, folder: Path | None, limit: int | None
) -> None:
    from docent.search import migration

    live = migration.status(container.database).live_model
    if live is not None and live != container.embedder.model_id:
        raise fail(f"DOCENT_EMBEDDER must name the live model ({live}) while a migration runs")
    new = _embedder(container, spec)
    migration.start(container.database, new, spec)
    typer.echo(f"migrating {live} -> {new.model_id} (searches keep using {live})", err=True)
    done = migration.run(container.database, new, batch_size=batch_size, progress=_progress)
    _echo_status(done)
    _report(container, new, spec, folder, limit)
    typer.echo("when satisfied: `docent index migrate --switch` (or `--abort`)")


def _switch(container: Container, batch_size: int) -> None:
    from docent.search import migration

    current = migration.status(container.database)
    if current.spec is None or current.pending_model is None:
        raise fail("no migration is in progress")
    new = _embedder(container, current.spec)
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        migration.run(container.database, new, batch_size=batch_size)  # chunks ingested meanwhile
        try:
            migration.switch(container.database)
            break
        except migration.MigrationRefusedError:
            if attempt == SWITCH_ATTEMPTS:
                raise
    spec = current.spec
    typer.echo(f"switched: {current.pending_model} is live; {current.live_model}'s vectors are kept")
    typer.echo(
        f"restart servers and workers with DOCENT_EMBEDDER={spec.embedder} "
        f"DOCENT_EMBEDDER_BACKEND={spec.backend}"
        " (until then they answer from the previous vectors; their ingestion waits for the restart), then run"
        " `docent index migrate --drop-previous`"
    )


def _embedder(container: Container, spec: EmbedderSpec) -> Embedder:
    from docent.adapters import build_embedder

    return build_embedder(spec.settings(container.settings))


def _report(
    container: Container, new: Embedder, spec: EmbedderSpec, folder: Path | None, limit: int | None
) -> None:
    from docent.adapters import build_search_indexes
    from docent.evaluation import beir_figures
    from docent.search.migration_report import (
        SideBySide,
        rated_figures,
        rated_questions,
        side_by_side_lines,
    )
    from docent.search.retrieve import Retriever

    old = container.retriever
    vectors, _ = build_search_indexes(spec.settings(container.settings), new)
    retrievers = {old.embedder.model_id: old, new.model_id: Retriever(new, vectors, old.keywords, old.fusion)}
    report = SideBySide()
    judged = rated_questions(container.database)
    report.questions["rated answers"] = len(judged)
    if judged:
        report.figures["rated answers"] = rated_figures(container.database, retrievers, judged)
    if folder is not None:
        embedders = {old.embedder.model_id: old.embedder, new.model_id: new}
        queries, figures = beir_figures(container.settings, folder, embedders, limit=limit)
        report.questions[f"BEIR {folder.name}"], report.figures[f"BEIR {folder.name}"] = queries, figures
    for line in side_by_side_lines(report):
        typer.echo(line)


def _progress(done: int, total: int) -> None:
    typer.echo(f"  {done}/{total} chunks have vectors of the new model", err=True)


def _echo_status(status: MigrationStatus) -> None:
    typer.echo(f"live model: {status.live_model or '-'}")
    if status.pending_model is None:
        typer.echo("no migration in progress")
    else:
        total = status.done + status.missing
        state = (
            "complete: ready for --switch" if status.complete else "incomplete: run `docent index migrate`"
        )
        typer.echo(f"pending model: {status.pending_model}  {status.done}/{total} chunks  ({state})")
    if status.previous_model:
        typer.echo(f"previous model kept: {status.previous_model} (drop with --drop-previous)")
