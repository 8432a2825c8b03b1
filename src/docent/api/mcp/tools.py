"""The MCP tools as plain functions of a principal: what they do, with no protocol in sight.

Each tool is the MCP twin of a route (`POST /search`, `POST /chat`, `GET /documents`) and calls the same
services: the reader scope comes from `DocumentService.scope` or `ChatService.prepare`, so a tool shows
only what `readable_by` lets the principal read. Like its route, a tool counts against the caller's rate
limit before it does any work (`search` and `list_documents` on the search limit, `ask` on the chat limit)
and records the chunks it showed in the access log under the route `mcp:<tool>`. `list_documents` shows
titles and versions but no chunk, so it records nothing, as `GET /documents` does not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from docent.answer.service import ChatService
from docent.answer.types import Citation
from docent.api import shown
from docent.api.routes.search import FiltersIn, SearchResultOut
from docent.auth.access import AccessRecorder
from docent.auth.policy import Principal
from docent.auth.rate_limits import RateLimitKind, RateLimits, subject_of
from docent.db.repositories.documents import DocumentFilters
from docent.db.tables import Document
from docent.db.uow import Database
from docent.ingest.service import DocumentService
from docent.search.retrieve import Retriever, SearchMode
from docent.types import PageRequest

MAX_PAGE_SIZE = 100


class SearchToolOut(BaseModel):
    results: list[SearchResultOut]
    mode: SearchMode


class AskToolOut(BaseModel):
    answer: str = Field(description="The answer; markers like [1] point to the citations")
    citations: list[Citation]
    abstained: bool = Field(description="True when the documents did not hold an answer")
    session_id: uuid.UUID = Field(description="Pass it back as session_id to ask a follow-up")


class DocumentItemOut(BaseModel):
    id: uuid.UUID
    title: str
    visibility: str
    tags: list[str]
    version: int
    status: str
    content_type: str
    source_url: str | None
    updated_at: datetime


class DocumentPageOut(BaseModel):
    items: list[DocumentItemOut]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class DocentTools:
    database: Database
    documents: DocumentService
    retriever: Retriever
    chat: ChatService
    access: AccessRecorder
    rate_limits: RateLimits

    def search(
        self,
        principal: Principal,
        query: str,
        *,
        top_k: int,
        mode: SearchMode,
        filters: FiltersIn | None,
    ) -> SearchToolOut:
        self.rate_limits.hit(RateLimitKind.SEARCH, subject_of(principal))
        wanted = (filters or FiltersIn()).to_filters()
        with self.database.unit_of_work(write=False) as uow:
            scope = self.documents.scope(uow, principal)
            response = self.retriever.search(uow, scope, query, mode=mode, top_k=top_k, filters=wanted)
        self.access.record(principal, "mcp:search", shown.search_results(response))
        results = [SearchResultOut.model_validate(r, from_attributes=True) for r in response.results]
        return SearchToolOut(results=results, mode=response.mode)

    def ask(
        self,
        principal: Principal,
        question: str,
        *,
        session_id: uuid.UUID | None,
        filters: FiltersIn | None,
    ) -> AskToolOut:
        self.rate_limits.hit(RateLimitKind.CHAT, subject_of(principal))
        wanted = (filters or FiltersIn()).to_filters()
        prepared = self.chat.prepare(principal, question, session_id=session_id, filters=wanted)
        self.access.record(principal, "mcp:ask", shown.answer_passages(prepared))
        result = self.chat.answer(prepared)
        return AskToolOut(
            answer=result.answer.text,
            citations=list(result.answer.citations),
            abstained=result.answer.abstained,
            session_id=result.session_id,
        )

    def list_documents(
        self,
        principal: Principal,
        *,
        page: int,
        page_size: int,
        tag: str | None,
        title_contains: str | None,
        sort: Literal["-updated_at", "title"],
    ) -> DocumentPageOut:
        self.rate_limits.hit(RateLimitKind.SEARCH, subject_of(principal))
        filters = DocumentFilters(
            tag=tag.strip().lower() if tag else None, title_contains=title_contains, sort=sort
        )
        with self.database.unit_of_work(write=False) as uow:
            found = self.documents.page(uow, principal, filters, PageRequest(page, page_size))
            items = [_document_item(d) for d in found.items]
        return DocumentPageOut(items=items, total=found.total, page=found.page, page_size=found.page_size)


def _document_item(document: Document) -> DocumentItemOut:
    latest = next(v for v in document.versions if v.number == document.latest_version)
    return DocumentItemOut(
        id=document.id,
        title=document.title,
        visibility=document.visibility,
        tags=document.tags,
        version=latest.number,
        status=latest.status,
        content_type=latest.content_type,
        source_url=document.source_url,
        updated_at=document.updated_at,
    )
