"""The MCP server: Docent's tools, described for a model, each run as the principal of its call."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

import docent
from docent.answer.service import MAX_QUESTION_CHARS
from docent.api.mcp.tools import MAX_PAGE_SIZE, AskToolOut, DocentTools, DocumentPageOut, SearchToolOut
from docent.api.routes.search import FiltersIn
from docent.auth.policy import Principal
from docent.errors import DocentError
from docent.search.retrieve import MAX_QUERY_CHARS, MAX_TOP_K, SearchMode

_T = TypeVar("_T")

PrincipalSource = Callable[[Context[Any, Any]], Principal]
"""Who a tool call runs as: read from the HTTP request the call came in (`/mcp`), or from the API key the
stdio server was started with. Raises DocentError when the credential no longer holds."""

_INSTRUCTIONS = (
    "Docent answers from an organisation's documents. Use `search` to find passages, `ask` for an answer "
    "with numbered citations, `list_documents` to see what can be read. Every tool sees only the documents "
    "the signed-in user may read."
)
_READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def build_server(tools: DocentTools, principal_of: PrincipalSource) -> MCPServer:
    server: MCPServer = MCPServer(
        "docent", title="Docent", version=docent.__version__, instructions=_INSTRUCTIONS, log_level="WARNING"
    )

    @server.tool(annotations=_READS)
    def search(
        query: Annotated[
            str, Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for")
        ],
        ctx: Context[Any, Any],
        top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K, description="How many passages")] = 10,
        mode: Annotated[SearchMode, Field(description="hybrid, vector or keyword")] = SearchMode.HYBRID,
        filters: Annotated[
            FiltersIn | None, Field(description="Only these tags, documents, content types or dates")
        ] = None,
    ) -> SearchToolOut:
        """Ranked passages of the documents the user may read, each with its document, version and page."""
        if not query.strip():
            raise ToolError("The query is blank.")
        return _run(lambda: tools.search(principal_of(ctx), query, top_k=top_k, mode=mode, filters=filters))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False))
    def ask(
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)],
        ctx: Context[Any, Any],
        session_id: Annotated[
            uuid.UUID | None, Field(description="A session_id an earlier answer gave, for a follow-up")
        ] = None,
        filters: Annotated[FiltersIn | None, Field(description="Answer only from these documents")] = None,
    ) -> AskToolOut:
        """A grounded answer to a question from the documents the user may read, with numbered citations
        ([1], [2], ...) naming the passages it rests on; `abstained` when the documents do not say."""
        if not question.strip():
            raise ToolError("The question is blank.")
        return _run(lambda: tools.ask(principal_of(ctx), question, session_id=session_id, filters=filters))

    @server.tool(annotations=_READS)
    def list_documents(
        ctx: Context[Any, Any],
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = 20,
        tag: Annotated[str | None, Field(max_length=100, description="Only documents with this tag")] = None,
        title_contains: Annotated[str | None, Field(max_length=200, description="Text in the title")] = None,
        sort: Literal["-updated_at", "title"] = "-updated_at",
    ) -> DocumentPageOut:
        """The documents the user may read, a page at a time, with their tags, version and status."""
        return _run(
            lambda: tools.list_documents(
                principal_of(ctx),
                page=page,
                page_size=page_size,
                tag=tag,
                title_contains=title_contains,
                sort=sort,
            )
        )

    return server


def _run(call: Callable[[], _T]) -> _T:
    """A Docent error reaches the client as a tool error with its stable code; anything else is the SDK's
    `UnexpectedToolError`, which tells the client nothing of it."""
    try:
        return call()
    except DocentError as error:
        raise ToolError(f"{error.code.value}: {error.message}") from None
