"""The retriever: one query, for one reader, in one of three modes, to ranked chunks with snippets.

`vector` asks the vector index with the query's embedding, `keyword` asks the keyword index, `hybrid`
asks both for `candidates` chunks each and fuses the two rankings (a convex combination of their min-max
scaled scores, or reciprocal rank fusion: `docent.search.fusion`). Both indexes
apply the reader's permissions before their top k; the rows of the chunks found are then read again with
the same permission filter, so a result always exists in the database and is readable when it is shown.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from docent.config import Settings
from docent.db.repositories.search import ChunkHit
from docent.db.uow import UnitOfWork
from docent.errors import DocentError, ErrorCode
from docent.llm.caching import CachingEmbedder
from docent.llm.ports import Embedder
from docent.search.fusion import convex_combination, reciprocal_rank_fusion
from docent.search.ports import KeywordIndex, Scored, VectorIndex
from docent.search.snippet import make_snippet
from docent.types import ReaderScope, SearchFilters, display_text

MAX_QUERY_CHARS = 1000
MAX_TOP_K = 100  # what a search asks for
MAX_RANK_DEPTH = 1000  # what `rank` may be asked for (evaluation ranks documents from deep chunk lists)
QUERY_VECTORS_KEPT = 1024


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    VECTOR = "vector"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class FusionSettings:
    method: Literal["convex", "rrf"] = "convex"
    convex_vector_weight: float = 0.5  # the keyword ranking's weight is 1 minus this
    k: float = 60.0  # RRF's
    vector_weight: float = 1.0  # RRF's
    keyword_weight: float = 1.0  # RRF's
    candidates: int = 100  # how deep each ranking is that hybrid mode fuses

    @classmethod
    def from_settings(cls, settings: Settings) -> FusionSettings:
        return cls(
            method=settings.search_fusion,
            convex_vector_weight=settings.convex_vector_weight,
            k=settings.rrf_k,
            vector_weight=settings.rrf_vector_weight,
            keyword_weight=settings.rrf_keyword_weight,
            candidates=settings.search_candidates,
        )

    def fuse(self, by_vector: list[Scored], by_keyword: list[Scored]) -> list[tuple[int, float]]:
        """The two rankings as one, best first, with the fused scores."""
        if self.method == "convex":
            weight = self.convex_vector_weight
            return convex_combination(
                [[(s.chunk_id, s.score) for s in by_vector], [(s.chunk_id, s.score) for s in by_keyword]],
                [weight, 1.0 - weight],
            )
        return reciprocal_rank_fusion(
            [[s.chunk_id for s in by_vector], [s.chunk_id for s in by_keyword]],
            [self.vector_weight, self.keyword_weight],
            k=self.k,
        )


@dataclass(frozen=True)
class SearchResult:
    chunk_id: int
    document_id: uuid.UUID
    title: str
    version: int
    page: int | None
    section: list[str]
    score: float
    text: str
    snippet: str
    content_type: str


@dataclass(frozen=True)
class SearchResponse:
    results: list[SearchResult]
    mode: SearchMode
    took_ms: float
    # Cosine similarity to the query of the chunks the vector ranking reached (hybrid and vector modes).
    cosines: dict[int, float] = field(default_factory=dict)
    # Rank (1 = best) of the chunks the keyword ranking reached, in hybrid mode (the answer path's signals).
    keyword_ranks: dict[int, int] = field(default_factory=dict)


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        vectors: VectorIndex,
        keywords: KeywordIndex,
        fusion: FusionSettings | None = None,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.fusion = fusion or FusionSettings()
        # Recent queries' vectors are kept: people ask the same things (and chat rewrites a follow-up into
        # a question asked before).
        self._queries = CachingEmbedder(embedder, QUERY_VECTORS_KEPT)

    def search(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        query: str,
        *,
        mode: SearchMode = SearchMode.HYBRID,
        top_k: int = 10,
        filters: SearchFilters | None = None,
    ) -> SearchResponse:
        """The `top_k` best chunks the reader may read, with their documents' titles and snippets."""
        _check(query, top_k, MAX_TOP_K)
        started = time.perf_counter()
        filters = filters or SearchFilters()
        ranked, by_vector, by_keyword = self._rank(uow, scope, query, mode, top_k, filters)
        hits = uow.search.hits(scope, filters, [r.chunk_id for r in ranked])
        results = [_result(hits[r.chunk_id], r.score, query) for r in ranked if r.chunk_id in hits]
        took_ms = round((time.perf_counter() - started) * 1000, 2)
        cosines = {s.chunk_id: s.score for s in by_vector}
        keyword_ranks = {s.chunk_id: rank for rank, s in enumerate(by_keyword, start=1)}
        return SearchResponse(results, mode, took_ms, cosines, keyword_ranks)

    def rank(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        query: str,
        *,
        mode: SearchMode = SearchMode.HYBRID,
        top_k: int = 10,
        filters: SearchFilters | None = None,
    ) -> list[Scored]:
        """Chunk ids and scores only, best first (what evaluation and benchmarks need)."""
        _check(query, top_k, MAX_RANK_DEPTH)
        return self._rank(uow, scope, query, mode, top_k, filters or SearchFilters())[0]

    def _rank(
        self,
        uow: UnitOfWork,
        scope: ReaderScope,
        query: str,
        mode: SearchMode,
        top_k: int,
        filters: SearchFilters,
    ) -> tuple[list[Scored], list[Scored], list[Scored]]:
        """The ranking, and the vector and keyword indexes' own rankings that hybrid mode fused (in the
        other modes, the vector ranking used, and no keyword ranking)."""
        if mode is SearchMode.KEYWORD:
            return self.keywords.search(uow, scope, query, top_k, filters), [], []
        if mode is SearchMode.VECTOR:
            by_vector = self.vectors.search(uow, scope, self.embed_query(query), top_k, filters)
            return by_vector, by_vector, []
        vector = self.embed_query(query)
        depth = max(top_k, self.fusion.candidates)
        # Embedding the query in another thread while the keyword index answers saved nothing (measured at
        # 100k chunks: both want the GIL or the same cores).
        by_vector = self.vectors.search(uow, scope, vector, depth, filters)
        by_keyword = self.keywords.search(uow, scope, query, depth, filters)
        fused = self.fusion.fuse(by_vector, by_keyword)
        return [Scored(chunk_id, score) for chunk_id, score in fused[:top_k]], by_vector, by_keyword

    def embed_query(self, query: str) -> npt.NDArray[np.float32]:
        """The query's vector (read-only: it is shared by every caller that asks the same)."""
        return self._queries.embed_query(query)

    def forget_queries(self) -> None:
        """Drop the kept query vectors (benchmarks measure embedding too)."""
        self._queries.forget()


def _check(query: str, top_k: int, most: int) -> None:
    if not query.strip():
        raise DocentError(ErrorCode.VALIDATION_ERROR, "The query is empty.")
    if len(query) > MAX_QUERY_CHARS:
        raise DocentError(
            ErrorCode.VALIDATION_ERROR, f"The query has more than {MAX_QUERY_CHARS} characters."
        )
    if not 1 <= top_k <= most:
        raise DocentError(ErrorCode.VALIDATION_ERROR, f"top_k is between 1 and {most}.")


def _result(hit: ChunkHit, score: float, query: str) -> SearchResult:
    return SearchResult(
        chunk_id=hit.chunk_id,
        document_id=hit.document_id,
        title=display_text(hit.title),
        version=hit.version,
        page=hit.page,
        section=list(hit.section_path or []),
        score=score,
        text=hit.text,
        snippet=make_snippet(hit.text, query),
        content_type=hit.content_type,
    )
