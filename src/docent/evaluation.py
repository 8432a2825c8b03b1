"""`docent eval`: retrieval quality on a BEIR-format folder, through the real pipeline.

The corpus is ingested into a throw-away database (every document through parse, chunk, embed and index,
exactly as an upload), then every judged query is asked in each mode as an admin of the throw-away
organisation. Chunk rankings become document rankings by each document's best chunk.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docent.auth.policy import Principal, reader_scope
from docent.config import Settings
from docent.container import Container, build_container
from docent.db import migrate
from docent.db.engine import build_engine
from docent.ingest.bulk import submit_batch, text_sources
from docent.ingest.service import UploadOptions, Visibility
from docent.llm.ports import Embedder
from docent.search.beir import read_corpus, read_qrels, read_queries
from docent.search.metrics import evaluate
from docent.search.migration_report import MODES as MIGRATION_MODES
from docent.search.retrieve import SearchMode
from docent.types import JobStatus

ADMIN_EMAIL = "eval@example.com"
# Chunks asked for per query: enough to rank 100 distinct documents when documents have several chunks.
CHUNK_DEPTH = 300

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class EvalReport:
    dataset: str
    split: str
    documents: int
    chunks: int
    queries: int
    ingest_seconds: float
    database: str
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    query_ms: dict[str, float] = field(default_factory=dict)


@contextmanager
def throwaway_container(
    base: Settings, database_url: str | None, *, embedder: Embedder | None = None
) -> Iterator[Container]:
    """A container on a fresh database and data folder, with the embedder settings of `base` (or
    `embedder`, already built)."""
    with tempfile.TemporaryDirectory(prefix="docent-eval-") as tmp:
        url = database_url or f"sqlite:///{tmp}/eval.db"
        engine = build_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        overrides: dict[str, Any] = {
            "database_url": url,
            "data_dir": Path(tmp),
            "storage_dir": Path(tmp) / "files",
            "redis_url": None,
            "embedded_worker": False,
            "admin_email": ADMIN_EMAIL,
        }
        container = build_container(base.model_copy(update=overrides), embedder=embedder)
        try:
            yield container
        finally:
            container.close()


def run_evaluation(
    container: Container,
    folder: Path,
    *,
    modes: list[SearchMode],
    split: str = "test",
    limit: int | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    queries, qrels = read_queries(folder), read_qrels(folder, split)  # fail before the long part
    report = _ingest(container, folder, limit, progress)
    principal = admin_principal(container)
    ingested = set(source_names(container).values())
    # Only the first `limit` documents are in the index: a query whose relevant documents are not all among
    # them measures the slice, not the ranking, so it is not judged.
    judged = [
        q for q in qrels if q in queries and (limit is None or all(doc in ingested for doc in qrels[q]))
    ]
    report.split, report.queries = split, len(judged)
    owner = source_names(container)
    for mode in modes:
        rankings: dict[str, list[str]] = {}
        started = time.perf_counter()
        for done, query_id in enumerate(judged, start=1):
            rankings[query_id] = _rank_documents(container, principal, queries[query_id], mode, owner)
            if progress:
                progress(f"queries ({mode.value})", done, len(judged))
        report.query_ms[mode.value] = round((time.perf_counter() - started) * 1000 / max(1, len(judged)), 2)
        report.modes[mode.value] = evaluate(rankings, {q: qrels[q] for q in judged})
    return report


def admin_principal(container: Container) -> Principal:
    """The admin of the throw-away organisation (created on first use)."""
    with container.database.unit_of_work() as uow:
        container.users.bootstrap_admin(uow, ADMIN_EMAIL, None)
        uow.commit()
        return container.auth.local_principal(uow, ADMIN_EMAIL)


def ingest_texts(
    container: Container, items: Iterable[tuple[str, str]], progress: Progress | None = None
) -> int:
    """Ingest (file name, text) pairs as organisation-wide documents of the admin, through the real pipeline
    (the container's worker is started), and wait until every job has finished. Returns the chunk count."""
    principal = admin_principal(container)
    submitted = submit_batch(
        container.database,
        container.blobs,
        container.documents,
        principal,
        text_sources(items),
        UploadOptions(visibility=Visibility.ORG),
        container.settings.max_upload_bytes,
    )
    container.start_worker()
    while True:
        with container.database.unit_of_work(write=False) as uow:
            counts = uow.jobs.batch_counts(submitted.batch_id)
        finished = counts.get(JobStatus.COMPLETED, 0) + counts.get(JobStatus.FAILED, 0)
        if progress:
            progress("ingest", finished, submitted.accepted)
        if finished >= sum(counts.values()):
            break
        time.sleep(0.5)
    with container.database.unit_of_work(write=False) as uow:
        return uow.chunks.count()


def source_names(container: Container) -> dict[int, str]:
    """chunk id -> the file name (without `.md`) of the document the chunk was cut from."""
    with container.database.unit_of_work(write=False) as uow:
        return {chunk_id: name.removesuffix(".md") for chunk_id, name in uow.chunks.source_names()}


def _ingest(container: Container, folder: Path, limit: int | None, progress: Progress | None) -> EvalReport:
    corpus = list(read_corpus(folder, limit))
    started = time.perf_counter()
    chunks = ingest_texts(container, ((f"{doc.id}.md", doc.as_markdown()) for doc in corpus), progress)
    return EvalReport(
        dataset=folder.name,
        split="",
        documents=len(corpus),
        chunks=chunks,
        queries=0,
        ingest_seconds=round(time.perf_counter() - started, 1),
        database=container.database.engine.dialect.name,
    )


def _rank_documents(
    container: Container, principal: Principal, query: str, mode: SearchMode, owner: dict[int, str]
) -> list[str]:
    with container.database.unit_of_work(write=False) as uow:
        scope = reader_scope(principal, [])
        ranked = container.retriever.rank(uow, scope, query, mode=mode, top_k=CHUNK_DEPTH)
    return list(dict.fromkeys(owner[hit.chunk_id] for hit in ranked if hit.chunk_id in owner))


def beir_figures(
    base: Settings, folder: Path, embedders: dict[str, Any], *, limit: int | None = None
) -> tuple[int, dict[str, dict[str, dict[str, float]]]]:
    """(judged queries, [mode][model label] -> nDCG@10, Recall@10, MRR@10) on a BEIR folder, each model's
    index built in a throw-away database of its own."""
    figures: dict[str, dict[str, dict[str, float]]] = {}
    queries = 0
    for label, embedder in embedders.items():
        with throwaway_container(base, None, embedder=embedder) as container:
            report = run_evaluation(container, folder, modes=[*MIGRATION_MODES], limit=limit)
        queries = report.queries
        for mode, metrics in report.modes.items():
            kept = {name: metrics[name] for name in ("ndcg@10", "recall@10", "mrr@10")}
            figures.setdefault(mode, {})[label] = kept
    return queries, figures
