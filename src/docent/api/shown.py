"""What each route shows, as access records (`docent.auth.access`): the one place a route's results are
turned into the chunks a caller was shown. MCP tools use these too."""

from __future__ import annotations

from collections.abc import Iterable

from docent.answer.service import Prepared
from docent.answer.types import AgentStep
from docent.auth.access import Shown
from docent.db.tables import Chunk, DocumentVersion
from docent.search.retrieve import SearchResponse


def search_results(response: SearchResponse) -> list[Shown]:
    return [Shown(r.document_id, r.version, r.chunk_id) for r in response.results]


def answer_passages(prepared: Prepared) -> list[Shown]:
    """The passages handed to the answerer, or the cached answer's citations when it is served again:
    every citation of an answer is one of these."""
    shown = [Shown(p.document_id, p.version, p.chunk_id) for p in prepared.request.passages]
    cached = prepared.cached
    if cached is not None:
        shown.extend(Shown(c.document_id, c.version, c.chunk_id) for c in cached.citations)
    return shown


def agent_steps(steps: Iterable[AgentStep]) -> list[Shown]:
    """The passages agent mode's searches found: the step events name their documents, and the answer may
    cite any of them."""
    return [Shown(p.document_id, p.version, p.chunk_id) for step in steps for p in step.passages]


def chunk_listing(chunks: Iterable[Chunk], version: int | None) -> list[Shown]:
    return [Shown(c.document_id, version, c.id) for c in chunks]


def file_download(version: DocumentVersion) -> list[Shown]:
    return [Shown(version.document_id, version.number, None)]
