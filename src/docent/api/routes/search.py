"""POST /search: ranked chunks the caller may read, in hybrid, vector or keyword mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from docent.api.deps import DocumentServiceDep, PrincipalDep, ReadOnlyDep, RetrieverDep, rate_limit
from docent.api.routes import API_PREFIX
from docent.auth.rate_limits import RateLimitKind
from docent.search.retrieve import MAX_QUERY_CHARS, MAX_TOP_K, SearchMode, SearchResponse
from docent.types import SearchFilters

router = APIRouter(prefix=f"{API_PREFIX}/search", tags=["search"])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is blank")
    return value


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp without a zone is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class FiltersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    document_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)
    content_types: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )
    created_after: Annotated[datetime | None, AfterValidator(_aware)] = None
    created_before: Annotated[datetime | None, AfterValidator(_aware)] = None

    def to_filters(self) -> SearchFilters:
        return SearchFilters(
            tags=tuple(sorted({tag.strip().lower() for tag in self.tags if tag.strip()})),
            document_ids=tuple(self.document_ids),
            content_types=tuple(sorted({kind.strip().lower() for kind in self.content_types})),
            created_after=self.created_after,
            created_before=self.created_before,
        )


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS), AfterValidator(_not_blank)]
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K)
    mode: SearchMode = SearchMode.HYBRID
    filters: FiltersIn = Field(default_factory=FiltersIn)


class SearchResultOut(BaseModel):
    chunk_id: int
    document_id: uuid.UUID
    title: str
    version: int
    page: int | None
    section: list[str]
    score: float
    text: str
    snippet: str = Field(description="The passage around the query's words, each marked «like this».")
    content_type: str


class SearchOut(BaseModel):
    results: list[SearchResultOut]
    mode: SearchMode
    took_ms: float


def _search_out(response: SearchResponse) -> SearchOut:
    return SearchOut(
        results=[SearchResultOut.model_validate(r, from_attributes=True) for r in response.results],
        mode=response.mode,
        took_ms=response.took_ms,
    )


@router.post(
    "",
    response_model=SearchOut,
    summary="Ranked chunks of the documents the caller may read",
    dependencies=[rate_limit(RateLimitKind.SEARCH)],
)
def search(
    body: SearchIn,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    retriever: RetrieverDep,
    uow: ReadOnlyDep,
) -> SearchOut:
    scope = documents.scope(uow, principal)
    response = retriever.search(
        uow, scope, body.query, mode=body.mode, top_k=body.top_k, filters=body.filters.to_filters()
    )
    return _search_out(response)
