"""POST /search: ranked chunks the caller may read, in hybrid, vector or keyword mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from docent.api import shown
from docent.api.deps import (
    AccessRecorderDep,
    DocumentServiceDep,
    PrincipalDep,
    ReadOnlyCallDep,
    RetrieverDep,
    rate_limit,
)
from docent.api.routes import API_PREFIX
from docent.auth.rate_limits import RateLimitKind
from docent.db.uow import UnitOfWork
from docent.search.retrieve import MAX_QUERY_CHARS, MAX_TOP_K, SearchMode, SearchResponse
from docent.types import SearchFilters

router = APIRouter(prefix=f"{API_PREFIX}/search", tags=["search"])


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the query is blank")
    return value


def _iso_only(value: object) -> object:
    """A timestamp is an ISO 8601 string, as the document says: pydantic would also read a number as seconds
    since 1970."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("a timestamp is an ISO 8601 string")
    return value


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp without a zone is taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Timestamp = Annotated[datetime | None, BeforeValidator(_iso_only), AfterValidator(_aware)]


class FiltersIn(BaseModel):
    """Narrows the documents searched; every filter given must hold (empty lists filter nothing)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50, description="Documents with any of these tags"
    )
    document_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=1000, description="Only these documents"
    )
    content_types: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, description="Only these types, e.g. `application/pdf`"
    )
    created_after: Timestamp = Field(
        default=None, description="Uploaded at or after (ISO 8601; UTC if no zone)"
    )
    created_before: Timestamp = Field(default=None, description="Uploaded before (ISO 8601; UTC if no zone)")

    def to_filters(self) -> SearchFilters:
        return SearchFilters(
            tags=tuple(sorted({tag.strip().lower() for tag in self.tags if tag.strip()})),
            document_ids=tuple(self.document_ids),
            content_types=tuple(sorted({kind.strip().lower() for kind in self.content_types})),
            created_after=self.created_after,
            created_before=self.created_before,
        )


class SearchIn(BaseModel):
    """A search over the documents the caller may read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "parental leave", "top_k": 5, "mode": "hybrid", "filters": {"tags": ["hr"]}}
            ]
        },
    )

    query: Annotated[
        str,
        Field(min_length=1, max_length=MAX_QUERY_CHARS, description="Words or a question; not blank"),
        AfterValidator(_not_blank),
    ]
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, description="How many chunks to return at most")
    mode: SearchMode = Field(
        default=SearchMode.HYBRID,
        description="`hybrid`: meaning and words, fused; `vector`: meaning only; `keyword`: words (BM25)",
    )
    filters: FiltersIn = Field(default_factory=FiltersIn, description="Which documents to search")


class SearchResultOut(BaseModel):
    """One ranked chunk."""

    chunk_id: int = Field(description="The chunk; see `GET /documents/{id}/chunks`")
    document_id: uuid.UUID = Field(description="The document it belongs to")
    title: str = Field(description="The document's title")
    version: int = Field(description="The document version the chunk was taken from")
    page: int | None = Field(description="PDF page, from 1; null for formats without pages")
    section: list[str] = Field(description="Headings above the chunk, outermost first")
    score: float = Field(description="Higher is better; comparable within one search only")
    text: str = Field(description="The chunk's whole text")
    snippet: str = Field(description="The passage around the query's words, each marked «like this».")
    content_type: str = Field(description="The document's type, e.g. `application/pdf`")


class SearchOut(BaseModel):
    """The ranked chunks, best first."""

    results: list[SearchResultOut] = Field(description="Best first; empty when nothing matches")
    mode: SearchMode = Field(description="The mode used")
    took_ms: float = Field(description="Time spent searching, in milliseconds")


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
async def search(
    body: SearchIn,
    principal: PrincipalDep,
    documents: DocumentServiceDep,
    retriever: RetrieverDep,
    access: AccessRecorderDep,
    read_only: ReadOnlyCallDep,
) -> SearchOut:
    """Ranks chunks of the documents the caller may read (the permission filter is applied before the top k
    are taken). `mode`: `hybrid` (vector and keyword results fused), `vector` or `keyword`; `filters`
    narrow by tag, document, content type or upload time."""

    def run(uow: UnitOfWork) -> SearchOut:
        scope = documents.scope(uow, principal)
        response = retriever.search(
            uow, scope, body.query, mode=body.mode, top_k=body.top_k, filters=body.filters.to_filters()
        )
        access.record(principal, "search", shown.search_results(response))
        return _search_out(response)

    return await read_only(run)
