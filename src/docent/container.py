"""The object graph: every service the app and the CLI need, wired to the adapters `docent.adapters` picks
from settings already parsed and checked (`docent.config`). What keys a cached answer: `docent.answer.recall`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from docent.adapters import (
    OwnedChatModel,
    build_agent,
    build_answer_cache,
    build_embedder,
    build_provider_chain,
    build_recall,
    build_search_indexes,
)
from docent.answer.budgets import BudgetService
from docent.answer.cache import AnswerCache
from docent.answer.feedback import FeedbackService
from docent.answer.history import ChatHistory
from docent.answer.service import ChatService
from docent.auth.access import AccessRecorder, AccessService
from docent.auth.api_keys import ApiKeyService, KeyUseRecorder
from docent.auth.audit import AuditService
from docent.auth.groups import GroupService
from docent.auth.passwords import PasswordHasher
from docent.auth.rate_limits import RateLimits, StreamSlots
from docent.auth.service import AuthService
from docent.auth.users import UserService
from docent.auth.wiring import build_auth, build_rate_limits

if TYPE_CHECKING:
    from docent.auth.sso import SsoService
from docent.config import ConfigurationError, Settings
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.uow import Database
from docent.ingest.crawl_job import CrawlHandler, CrawlSettings
from docent.ingest.fetch import FetchPolicy, UrlFetcher
from docent.ingest.from_url import UrlIngestService
from docent.ingest.limits import ParseLimits
from docent.ingest.pipeline import IngestHandler
from docent.ingest.sandbox import ParseSandbox
from docent.ingest.service import DocumentService
from docent.ingest.sharing import SharingService
from docent.ingest.sources import SourceLimits, SourceService
from docent.jobs.queue import HueyQueue, build_huey_queue
from docent.jobs.runner import JobRunner, RunnerPolicy
from docent.jobs.service import JobService
from docent.jobs.worker import Worker
from docent.llm.onnx_embedder import OnnxEmbedder
from docent.llm.ports import Embedder
from docent.observability.logs import get_logger
from docent.search.backends.memory_rows import MemoryIndex
from docent.search.index_check import index_model_mismatch
from docent.search.migration import serves_previous_model
from docent.search.retrieve import FusionSettings, Retriever
from docent.storage.blobs import BlobStore

_MIN_RESERVATION_SECONDS = 300.0


@dataclass
class Container:
    settings: Settings
    database: Database
    auth: AuthService
    users: UserService
    groups: GroupService
    api_keys: ApiKeyService
    key_uses: KeyUseRecorder
    access: AccessRecorder
    access_log: AccessService
    audit: AuditService
    blobs: BlobStore
    queue: HueyQueue
    embedder: Embedder
    documents: DocumentService
    sharing: SharingService
    url_ingest: UrlIngestService
    sources: SourceService
    jobs: JobService
    runner: JobRunner
    retriever: Retriever
    chat: ChatService
    history: ChatHistory
    rate_limits: RateLimits
    streams: StreamSlots
    worker: Worker | None = None
    chat_models: list[OwnedChatModel] = field(default_factory=list)  # closed with the container
    answer_cache: AnswerCache | None = None  # closed with the container
    feedback: FeedbackService = field(default_factory=FeedbackService)
    sso: SsoService | None = None  # OpenID Connect sign-in, when configured
    budgets: BudgetService = field(default_factory=BudgetService)

    def readiness(self) -> dict[str, str]:
        """Each dependency the service needs, and whether it answers (\"ok\" or what is wrong)."""
        return {"database": _probe(self._database_state), "queue": _probe(self._queue_state)}

    def _database_state(self) -> str:
        self.database.ping()
        return "ok" if migrate.is_up_to_date(self.database.engine) else "migrations pending"

    def _queue_state(self) -> str:
        self.queue.ping()
        return "ok"

    def check_index_model(self) -> None:
        """Refuse to start against an index built with another embedding model."""
        mismatch = index_model_mismatch(self.database, self.embedder.model_id)
        if mismatch:
            raise ConfigurationError(mismatch)
        if serves_previous_model(self.database, self.embedder.model_id):
            get_logger(__name__).warning(
                "embedding_model_switched",
                model=self.embedder.model_id,
                detail="searches use its kept vectors, ingestion waits: set the new DOCENT_EMBEDDER",
            )

    def start_worker(self) -> Worker:
        """Consume jobs in this process (the embedded profile, or `docent worker`)."""
        if self.worker is None:
            settings = self.settings
            self.worker = Worker(
                self.queue.huey,
                self.runner,
                threads=settings.worker_threads,
                sweep_seconds=settings.job_sweep_seconds,
            )
            self.worker.start()
        return self.worker

    def warm_search(self) -> threading.Thread:
        """Load the local embedding model (exporting it on the very first start) and derive the in-memory
        search indexes in the background, so that the first query after start-up does not wait for them
        (seconds at 100k chunks); a query arriving meanwhile waits for the same work instead of starting
        its own."""
        indexes = [i for i in (self.retriever.vectors, self.retriever.keywords) if isinstance(i, MemoryIndex)]

        def warm() -> None:
            try:
                if isinstance(self.embedder, OnnxEmbedder):
                    self.embedder.load()
                for index in indexes:
                    with self.database.unit_of_work(write=False) as uow:
                        index.current(uow)
            except Exception:  # the service may be closing; the next query does this work anyway
                get_logger(__name__).warning("search_warm_up_failed", exc_info=True)

        thread = threading.Thread(target=warm, name="docent-warm-search", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.access.close()
        for model in self.chat_models:
            model.close()
        if self.answer_cache is not None:
            self.answer_cache.close()
        self.database.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def build_container(
    settings: Settings, *, embedder: Embedder | None = None, hasher: PasswordHasher | None = None
) -> Container:
    """Every adapter and service, built from `settings`; `with build_container(settings) as c:` closes them.
    `embedder` and `hasher` replace the configured ones (tests share one model and hash passwords cheaply)."""
    settings.check_secret_key()
    database = Database(build_engine(settings.database_url))
    hasher = hasher or PasswordHasher()
    blobs = BlobStore(settings.storage_dir or settings.data_dir / "files")
    queue = build_huey_queue(settings.queue_name, settings.redis_url, settings.data_dir)
    embedder = embedder or build_embedder(settings)
    documents = DocumentService(
        blobs,
        queue,
        max_attempts=settings.job_max_attempts,
        max_queued_per_user=settings.max_queued_documents_per_user,
    )
    indexes = build_search_indexes(settings, embedder)
    retriever = Retriever(embedder, *indexes, FusionSettings.from_settings(settings))
    budgets = BudgetService(reservation_seconds=reservation_seconds(settings))
    chat, chat_models, answer_cache = _chat_service(settings, database, embedder, retriever, budgets)
    fetch_policy = FetchPolicy.from_settings(settings)
    fetcher = UrlFetcher(fetch_policy)
    access = AccessRecorder.from_settings(database, settings)
    auth, sso = build_auth(settings, hasher)
    crawler = _crawler(database, blobs, documents, fetcher, settings)
    sources = SourceService(fetcher, queue, SourceLimits.from_settings(settings), settings.job_max_attempts)
    return Container(
        settings=settings,
        database=database,
        auth=auth,
        sso=sso,
        users=UserService(hasher),
        groups=GroupService(),
        api_keys=ApiKeyService(),
        key_uses=KeyUseRecorder(database),
        access=access,
        access_log=AccessService(access),
        audit=AuditService(),
        blobs=blobs,
        queue=queue,
        embedder=embedder,
        documents=documents,
        sharing=SharingService(documents),
        url_ingest=UrlIngestService(fetcher, blobs, documents, fetch_policy.max_bytes),
        sources=sources,
        jobs=JobService(),
        runner=_job_runner(settings, database, blobs, queue, embedder, crawler),
        retriever=retriever,
        chat=chat,
        history=ChatHistory(),
        rate_limits=build_rate_limits(settings),
        streams=StreamSlots.build(settings.redis_url, settings.max_streams_per_user, settings.queue_name),
        chat_models=chat_models,
        answer_cache=answer_cache,
        budgets=budgets,
    )


def reservation_seconds(settings: Settings) -> float:
    """How long a budget reservation counts unless its answer releases it: every provider of the chain waiting
    its whole timeout in turn, after agent mode's time, and at least five minutes, since a timeout bounds each
    wait of a stream rather than the whole of it. Only a process that dies mid-answer leaves one to expire."""
    waits = sum(spec.timeout for spec in settings.providers) + settings.agent_timeout_seconds
    return max(_MIN_RESERVATION_SECONDS, waits)


def _chat_service(
    settings: Settings, database: Database, embedder: Embedder, retriever: Retriever, budgets: BudgetService
) -> tuple[ChatService, list[OwnedChatModel], AnswerCache | None]:
    """The answer path, and what the container must close or report of it: the chain's models, the cache."""
    chat_models: list[OwnedChatModel] = []
    chain = build_provider_chain(settings, embedder, chat_models)
    answer_cache = build_answer_cache(settings)
    chat = ChatService(
        database,
        retriever,
        chain,
        top_k=settings.answer_top_k,
        recall=build_recall(settings, answer_cache, chain, embedder),
        budgets=budgets,
        agent=build_agent(settings, chain, chat_models),
    )
    return chat, chat_models, answer_cache


def _crawler(
    database: Database, blobs: BlobStore, documents: DocumentService, fetcher: UrlFetcher, settings: Settings
) -> CrawlHandler:
    crawl = CrawlSettings(
        delay_seconds=settings.source_fetch_delay_seconds,
        run_seconds=settings.source_max_run_seconds,
        max_bytes=settings.url_fetch_max_mb * 1024 * 1024,
    )
    return CrawlHandler(database, blobs, documents, fetcher, crawl)


def _job_runner(
    settings: Settings,
    database: Database,
    blobs: BlobStore,
    queue: HueyQueue,
    embedder: Embedder,
    crawl: CrawlHandler,
) -> JobRunner:
    ingest = IngestHandler(
        database,
        blobs,
        embedder,
        ParseSandbox(ParseLimits.from_settings(settings)),
        batch_size=settings.ingest_batch_jobs,
        embed_batch_size=settings.embed_batch_size,
        overlap_tokens=settings.chunk_overlap_tokens,
        contextual_chunks=settings.chunk_context,
    )
    runner = JobRunner(database, queue, [ingest, crawl], RunnerPolicy.from_settings(settings))
    queue.bind(runner.run)
    return runner


def _probe(state: Callable[[], str]) -> str:
    try:
        return state()
    except Exception as exc:  # readiness reports any failure, whatever its type (a driver's, a socket's)
        return f"unreachable ({type(exc).__name__})"
