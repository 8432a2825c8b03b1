"""Site crawls: a source is a start URL with limits; each run fetches its pages into documents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from docent.api.deps import (
    ContextDep,
    PrincipalDep,
    ReadOnlyDep,
    SourceServiceDep,
    TransactionDep,
    rate_limit,
)
from docent.api.openapi import errors
from docent.api.routes import API_PREFIX
from docent.api.schemas import OrmModel, PageOut
from docent.auth.rate_limits import RateLimitKind
from docent.ingest.service import MAX_TAG_LENGTH, MAX_TAGS, Visibility, normalise_tags
from docent.ingest.sources import MAX_PATTERN_LENGTH, MAX_PATTERNS, SourceSpec, SourceView
from docent.types import PageRequest

router = APIRouter(prefix=f"{API_PREFIX}/sources", tags=["sources"])
_PATTERNS: Any = Field(
    default_factory=list,
    max_length=MAX_PATTERNS,
    description="Shell-style globs (`*`, `?`, `[abc]`) matched against a link's path and query: `/docs/*`",
)
Pattern = Annotated[str, Field(min_length=1, max_length=MAX_PATTERN_LENGTH)]


class SourceIn(BaseModel):
    """A site to crawl. The limits are checked against the server's maximums before anything is stored."""

    start_url: str = Field(
        min_length=1, max_length=2000, description="An http:// or https:// address; private ones are refused"
    )
    same_host: bool = Field(default=True, description="Follow links to the start URL's host (and port) only")
    max_depth: int = Field(default=2, ge=0, le=100, description="Links away from the start URL (0: it alone)")
    max_pages: int = Field(default=100, ge=1, le=100_000, description="Pages fetched per run, failures too")
    include: list[Pattern] = _PATTERNS
    exclude: list[Pattern] = _PATTERNS
    tags: list[Annotated[str, Field(max_length=MAX_TAG_LENGTH)]] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Tags of the documents it creates"
    )
    visibility: Visibility = Field(default=Visibility.PRIVATE, description="Who may read its documents")
    group_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100, description="Groups that may read them (visibility `group`)"
    )


class RunErrorOut(BaseModel):
    url: str | None = Field(description="The page, or null for the run as a whole")
    code: str = Field(description="A stable error code, e.g. `fetch_failed`, `document_too_large`")
    message: str


class RunOut(OrmModel):
    """One crawl of a source. Its page ingests and the crawl job itself form the batch `batch_id`."""

    id: uuid.UUID
    status: str = Field(description="`queued`, `running`, `completed` or `failed`")
    batch_id: str = Field(description="See its jobs with `GET /jobs?batch=`")
    job_id: uuid.UUID | None = Field(description="The crawl job")
    pages_fetched: int = Field(description="Pages read and taken (new, changed or unchanged)")
    pages_new: int = Field(description="Pages that became new documents")
    pages_changed: int = Field(description="Pages whose content changed: a new version each")
    pages_unchanged: int = Field(description="Pages as they were (or already a document)")
    pages_failed: int = Field(description="Pages that could not be read or ingested (see `errors`)")
    pages_skipped: int = Field(description="Pages robots.txt disallows")
    pages_removed: int = Field(description="Pages now answering 404 or 410: their documents soft-deleted")
    errors: list[RunErrorOut] = Field(description="The first 50 errors")
    error: str | None = Field(description="Why the run as a whole failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SourceOut(OrmModel):
    id: uuid.UUID
    start_url: str
    same_host: bool
    max_depth: int
    max_pages: int
    include: list[str]
    exclude: list[str]
    tags: list[str]
    visibility: str
    group_ids: list[uuid.UUID]
    created_by: uuid.UUID | None
    created_at: datetime
    last_run: RunOut | None = Field(description="The newest run")


def _out(view: SourceView) -> SourceOut:
    run = RunOut.model_validate(view.last_run) if view.last_run is not None else None
    return SourceOut.model_validate({**_columns(view.source), "last_run": run})


def _columns(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SourceOut.model_fields if name != "last_run"}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SourceOut,
    summary="Create a site crawl and start its first run",
    responses=errors(404, 502),
    dependencies=[rate_limit(RateLimitKind.UPLOAD)],
)
def create_source(
    body: SourceIn,
    principal: PrincipalDep,
    sources: SourceServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> SourceOut:
    """Stores the source and queues its first run (202). Refused with 400 before anything is stored: a start
    URL that is not http(s) (`invalid_url`) or names a private or cloud-metadata address (`url_forbidden`),
    `max_pages` or `max_depth` above the server's maximum, too many or too long patterns, groups that do not
    fit the visibility; 502 `fetch_failed` when the host's name cannot be resolved. Every fetch of a run
    (robots.txt, pages, redirects) passes the same SSRF guard."""
    spec = SourceSpec(
        start_url=body.start_url,
        same_host=body.same_host,
        max_depth=body.max_depth,
        max_pages=body.max_pages,
        include=tuple(body.include),
        exclude=tuple(body.exclude),
        visibility=body.visibility,
        tags=normalise_tags(body.tags),
        group_ids=tuple(body.group_ids),
    )
    return _out(sources.create(uow, principal, spec, context))


@router.get("", response_model=PageOut[SourceOut], summary="Sources with their last run, newest first")
def list_sources(
    principal: PrincipalDep,
    sources: SourceServiceDep,
    uow: ReadOnlyDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Any:
    """A member sees the sources they created, an admin the organisation's; each with its last run's status,
    times, page counts and errors."""
    found = sources.page(uow, principal, PageRequest(page, page_size))
    return {"items": [_out(v) for v in found.items], "total": found.total, "page": found.page,
            "page_size": found.page_size}  # fmt: skip


@router.get("/{source_id:uuid}", response_model=SourceOut, summary="One source with its last run")
def get_source(
    source_id: uuid.UUID, principal: PrincipalDep, sources: SourceServiceDep, uow: ReadOnlyDep
) -> Any:
    """One source (its creator or an admin; 404 for anyone else) with its last run."""
    return _out(sources.get(uow, principal, source_id))


def _run(
    source_id: uuid.UUID,
    principal: PrincipalDep,
    sources: SourceServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> SourceOut:
    """Queues a new run of the source (its creator or an admin): pages whose content changed become new
    versions, the others stay as they are. 409 `source_run_active` while a run is queued or running."""
    return _out(sources.run(uow, principal, source_id, context))


router.post(
    "/{source_id:uuid}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SourceOut,
    summary="Run the source again",
    responses=errors(409),
)(_run)
router.post(
    "/{source_id:uuid}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SourceOut,
    summary="Run the source again (the name DESIGN.md gives; same as `/runs`)",
    responses=errors(409),
    deprecated=True,
)(_run)


@router.delete(
    "/{source_id:uuid}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a source (creator or admin)"
)
def delete_source(
    source_id: uuid.UUID,
    principal: PrincipalDep,
    sources: SourceServiceDep,
    uow: TransactionDep,
    context: ContextDep,
) -> None:
    """Deletes the source and its runs (its creator or an admin). The documents it created stay, as their
    owner's documents; a run in progress stops at its next page."""
    sources.delete(uow, principal, source_id, context)
