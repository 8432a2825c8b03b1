"""`docent ingest`: files and folders as one batch, a progress bar per chunk embedded, then a summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docent.cli.runtime import fail, load_settings, ready_container

if TYPE_CHECKING:
    from docent.db.repositories.jobs import BatchProgress
    from docent.db.uow import Database
    from docent.ingest.bulk import Submitted
    from docent.ingest.folder_sync import SyncReport


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
    """Ingest files and folders as one batch; a progress bar while they are indexed, then a summary."""
    from docent.ingest.bulk import batch_failures, collect_files, path_sources, submit_batch
    from docent.ingest.service import UploadOptions, Visibility, normalise_tags

    started = time.monotonic()
    try:
        options = UploadOptions(visibility=Visibility(visibility), tags=normalise_tags(tag or []))
    except ValueError:
        raise fail("--visibility is private, group or org") from None
    settings = load_settings()
    with ready_container(settings, queue=True) as container:
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, owner or settings.admin_email, org)
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
        typer.echo(
            f"batch {submitted.batch_id}: {submitted.accepted} accepted, "
            f"{submitted.duplicates} already present, {len(submitted.rejected)} skipped",
            err=True,
        )
        if not wait:
            _print_queued(submitted, time.monotonic() - started)
            return
        if settings.runs_embedded_worker:
            container.start_worker()
        progress = _watch(container.database, submitted)
        failures = batch_failures(container.database, submitted)
    _print_summary(submitted, progress, failures, time.monotonic() - started)
    if failures:
        raise typer.Exit(code=1)


def _watch(database: Database, submitted: Submitted) -> BatchProgress:
    """Wait for the batch, drawing a bar on a terminal (on stderr): chunks embedded of those expected."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from docent.ingest.bulk import expected_chunks, wait_for_batch

    console = Console(stderr=True)
    columns = (
        TextColumn("indexing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("indexing", total=None, detail="")

        def show(progress: BatchProgress) -> None:
            expected = expected_chunks(progress)
            about = "~" if progress.unsized else ""
            bar.update(
                task,
                completed=progress.chunks_done,
                total=expected,
                detail=f"{progress.chunks_done}/{about}{expected or 0} chunks  "
                f"{progress.finished}/{progress.documents} documents",
            )

        try:
            return wait_for_batch(database, submitted.batch_id, show)
        except KeyboardInterrupt:
            raise fail(
                f"interrupted: the rest of batch {submitted.batch_id} stays queued "
                "(`docent serve` or `docent worker` will index it)",
                code=130,
            ) from None


def _print_summary(
    submitted: Submitted, progress: BatchProgress, failures: list[tuple[str, str]], seconds: float
) -> None:
    typer.echo(
        f"{progress.completed} indexed ({progress.chunks_done} chunks), "
        f"{submitted.duplicates} already present, {len(submitted.rejected)} skipped, "
        f"{len(failures)} failed, in {seconds:.1f} s"
    )
    for label, reason in submitted.rejected:
        typer.echo(f"  skipped {label}: {reason}")
    for label, reason in failures:
        typer.echo(f"  failed  {label}: {reason}")


def _print_queued(submitted: Submitted, seconds: float) -> None:
    typer.echo(
        f"{submitted.accepted} queued, {submitted.duplicates} already present, "
        f"{len(submitted.rejected)} skipped, in {seconds:.1f} s "
        f"(follow them with GET /api/v1/jobs?batch={submitted.batch_id})"
    )
    for label, reason in submitted.rejected:
        typer.echo(f"  skipped {label}: {reason}")


def sync(
    folder: Annotated[Path, typer.Argument(help="The folder to mirror (recursively; hidden files skipped)")],
    watch: Annotated[bool, typer.Option(help="Keep running, and sync again whenever files change")] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag for every new document (repeatable)")
    ] = None,
    visibility: Annotated[str, typer.Option(help="private, group or org (new documents)")] = "org",
    owner: Annotated[
        str | None, typer.Option(help="Email of the owning user (default: DOCENT_ADMIN_EMAIL)")
    ] = None,
    org: Annotated[str | None, typer.Option(help="Organisation slug, when the email is in several")] = None,
) -> None:
    """Mirror a folder: new files are ingested, changed ones get a new version, deleted ones are deleted."""
    from docent.ingest.folder_sync import FolderSync
    from docent.ingest.service import UploadOptions, Visibility, normalise_tags

    if not folder.is_dir():
        raise fail(f"{folder} is not a folder")
    try:
        options = UploadOptions(visibility=Visibility(visibility), tags=normalise_tags(tag or []))
    except ValueError:
        raise fail("--visibility is private, group or org") from None
    settings = load_settings()
    with ready_container(settings, queue=True) as container:
        with container.database.unit_of_work(write=False) as uow:
            principal = container.auth.local_principal(uow, owner or settings.admin_email, org)
        syncer = FolderSync(
            container.database, container.blobs, container.documents, settings.max_upload_bytes
        )
        _print_sync(syncer.run(principal, folder, options))
        if not watch:
            return
        from watchfiles import watch as changes_of

        watching = False
        try:
            # `yield_on_timeout`: the first (empty) yield says the watch is live; a sync then catches what
            # changed between the first sync and the watch's start.
            for changes in changes_of(folder, debounce=1000, yield_on_timeout=True, rust_timeout=2000):
                if not watching:
                    watching = True
                    typer.echo(f"watching {folder.resolve()} (Ctrl-C to stop)", err=True)
                elif not changes:
                    continue
                report = syncer.run(principal, folder, options)
                if changes or report.changed:
                    _print_sync(report)
        except KeyboardInterrupt:
            return


def _print_sync(report: SyncReport) -> None:
    typer.echo(
        f"sync: {len(report.added)} added, {len(report.updated)} updated, {len(report.renamed)} renamed, "
        f"{len(report.deleted)} deleted, {report.unchanged} unchanged, {len(report.skipped)} skipped"
        + (f" (batch {report.batch_id})" if report.added else "")
    )
    for name in report.added:
        typer.echo(f"  added   {name}")
    for name in report.updated:
        typer.echo(f"  updated {name}")
    for old, new in report.renamed:
        typer.echo(f"  renamed {old} -> {new}")
    for name in report.deleted:
        typer.echo(f"  deleted {name}")
    for name, reason in report.skipped:
        typer.echo(f"  skipped {name}: {reason}")
