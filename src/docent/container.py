"""The one place that picks adapters: everything the app and the CLI need, built from the settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from docent.answer.chain import Answerer, LLMAnswerer, ProviderChain
from docent.answer.cost import parse_price_table
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.service import ChatService
from docent.auth.api_keys import ApiKeyService
from docent.auth.audit import AuditService
from docent.auth.groups import GroupService
from docent.auth.passwords import PasswordHasher
from docent.auth.service import AuthService
from docent.auth.throttle import LoginThrottle
from docent.auth.tokens import AccessTokenCodec
from docent.auth.users import UserService
from docent.config import ConfigurationError, Settings
from docent.db import migrate
from docent.db.engine import build_engine
from docent.db.uow import Database
from docent.ingest.fetch import FetchPolicy, UrlFetcher
from docent.ingest.from_url import UrlIngestService
from docent.ingest.pipeline import IngestHandler
from docent.ingest.service import DocumentService
from docent.jobs.queue import HueyQueue, build_huey_queue
from docent.jobs.runner import JobRunner, RunnerPolicy
from docent.jobs.service import JobService
from docent.jobs.worker import Worker
from docent.llm.openai_chat import OpenAIChatModel
from docent.llm.ports import Embedder
from docent.observability.logs import get_logger
from docent.search.backends.fts5 import Fts5KeywordIndex
from docent.search.backends.memory_matrix import MemoryMatrixIndex
from docent.search.backends.postgres import PgVectorIndex, PostgresKeywordIndex
from docent.search.index_check import index_model_mismatch
from docent.search.ports import KeywordIndex, VectorIndex
from docent.search.retrieve import FusionSettings, Retriever
from docent.storage.blobs import BlobStore


@dataclass
class Container:
    settings: Settings
    database: Database
    auth: AuthService
    users: UserService
    groups: GroupService
    api_keys: ApiKeyService
    audit: AuditService
    blobs: BlobStore
    queue: HueyQueue
    embedder: Embedder
    documents: DocumentService
    url_ingest: UrlIngestService
    jobs: JobService
    runner: JobRunner
    retriever: Retriever
    chat: ChatService
    worker: Worker | None = None
    chat_models: list[OpenAIChatModel] = field(default_factory=list)  # closed with the container

    def readiness(self) -> dict[str, str]:
        """Each dependency the service needs, and whether it answers (\"ok\" or what is wrong)."""
        try:
            self.database.ping()
            database = "ok" if migrate.is_up_to_date(self.database.engine) else "migrations pending"
        except Exception as exc:  # readiness reports any failure, whatever its type
            database = f"unreachable ({type(exc).__name__})"
        try:
            self.queue.ping()
            queue = "ok"
        except Exception as exc:  # as above
            queue = f"unreachable ({type(exc).__name__})"
        return {"database": database, "queue": queue}

    def check_index_model(self) -> None:
        """Refuse to start against an index built with another embedding model."""
        mismatch = index_model_mismatch(self.database, self.embedder.model_id)
        if mismatch:
            raise ConfigurationError(mismatch)

    def start_worker(self) -> Worker:
        """Consume jobs in this process (the embedded profile, or `docent worker`)."""
        if self.worker is None:
            self.worker = Worker(
                self.queue.huey,
                self.runner,
                threads=self.settings.worker_threads,
                sweep_seconds=self.settings.job_sweep_seconds,
            )
            self.worker.start()
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        for model in self.chat_models:
            model.close()
        self.database.dispose()


def build_container(settings: Settings, *, embedder: Embedder | None = None) -> Container:
    """`embedder` replaces the configured one (tests share one loaded model across many containers)."""
    settings.check_secret_key()
    database = Database(build_engine(settings.database_url))
    hasher = PasswordHasher()
    codec = AccessTokenCodec(_signing_key(settings), timedelta(minutes=settings.access_token_minutes))
    throttle = LoginThrottle(
        settings.redis_url or "memory://",
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )
    blobs = BlobStore(settings.storage_dir or settings.data_dir / "files")
    queue = build_huey_queue(settings.queue_name, settings.redis_url, settings.data_dir)
    embedder = embedder or build_embedder(settings)
    documents = DocumentService(blobs, queue, max_attempts=settings.job_max_attempts)
    fetcher = UrlFetcher(
        FetchPolicy(
            timeout_seconds=settings.url_fetch_timeout_seconds,
            max_bytes=settings.url_fetch_max_mb * 1024 * 1024,
            max_redirects=settings.url_fetch_max_redirects,
            allow_private_addresses=settings.url_allow_private_addresses,
        )
    )
    ingest = IngestHandler(
        database,
        blobs,
        embedder,
        batch_size=settings.ingest_batch_jobs,
        embed_batch_size=settings.embed_batch_size,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    policy = RunnerPolicy(
        lease_seconds=settings.job_lease_seconds,
        backoff_base_seconds=settings.job_backoff_base_seconds,
        resend_after_seconds=max(settings.job_lease_seconds, 2 * settings.job_sweep_seconds),
    )
    runner = JobRunner(database, queue, [ingest], policy)
    queue.bind(runner.run)
    vectors, keywords = build_search_indexes(settings, embedder)
    fusion = FusionSettings(
        k=settings.rrf_k,
        vector_weight=settings.rrf_vector_weight,
        keyword_weight=settings.rrf_keyword_weight,
        candidates=settings.search_candidates,
    )
    retriever = Retriever(embedder, vectors, keywords, fusion)
    chat_models: list[OpenAIChatModel] = []
    chain = build_provider_chain(settings, embedder, chat_models)
    chat = ChatService(database, retriever, chain, top_k=settings.answer_top_k)
    return Container(
        settings=settings,
        database=database,
        auth=AuthService(hasher, codec, throttle, timedelta(days=settings.refresh_token_days)),
        users=UserService(hasher),
        groups=GroupService(),
        api_keys=ApiKeyService(),
        audit=AuditService(),
        blobs=blobs,
        queue=queue,
        embedder=embedder,
        documents=documents,
        url_ingest=UrlIngestService(fetcher, blobs, documents, settings.url_fetch_max_mb * 1024 * 1024),
        jobs=JobService(),
        runner=runner,
        retriever=retriever,
        chat=chat,
        chat_models=chat_models,
    )


def build_provider_chain(
    settings: Settings, embedder: Embedder, made: list[OpenAIChatModel] | None = None
) -> ProviderChain:
    """`DOCENT_LLM_PROVIDERS`: comma-separated, tried in order; `openai:MODEL` or `openai:MODEL@BASE_URL` (any
    OpenAI-compatible server, key from `DOCENT_LLM_API_KEY`), and `extractive`, which always ends the chain
    whether written or not. The extractive answerer uses the shared embedder."""
    providers: list[Answerer] = []
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    for entry in (part.strip() for part in settings.llm_providers.split(",")):
        kind, _, rest = entry.partition(":")
        model, _, base_url = rest.partition("@")
        if entry in ("", "extractive"):
            continue
        if kind != "openai" or not model.strip():
            raise ConfigurationError(
                f"DOCENT_LLM_PROVIDERS entry {entry!r} is not understood: use openai:MODEL[@BASE_URL] or "
                "extractive."
            )
        chat = OpenAIChatModel(
            model.strip(),
            base_url=base_url.strip() or None,
            api_key=key,
            timeout_seconds=settings.llm_timeout_seconds,
        )
        providers.append(LLMAnswerer(chat))
        if made is not None:
            made.append(chat)
    try:
        prices = parse_price_table(settings.llm_prices)
    except ValueError as exc:
        raise ConfigurationError(f"DOCENT_LLM_PRICES: {exc}") from None
    return ProviderChain(
        providers,
        ExtractiveAnswerer(embedder),
        cooldown_seconds=settings.llm_cooldown_seconds,
        min_relevance=settings.answer_min_relevance,
        prices=prices,
    )


def build_search_indexes(settings: Settings, embedder: Embedder) -> tuple[VectorIndex, KeywordIndex]:
    """SQLite: exact cosine over an in-memory matrix, and FTS5. PostgreSQL: pgvector HNSW, and tsvector."""
    if settings.is_sqlite:
        return MemoryMatrixIndex(embedder), Fts5KeywordIndex()
    return PgVectorIndex(embedder, ef_search=settings.hnsw_ef_search), PostgresKeywordIndex()


def build_embedder(settings: Settings) -> Embedder:
    """`local:<model>` runs on this machine; `openai:<model>` calls an OpenAI-compatible server."""
    kind, _, name = settings.embedder.partition(":")
    if kind == "local" and name:
        from docent.llm.local_embedder import LocalEmbedder

        return LocalEmbedder(
            name,
            batch_size=settings.embed_batch_size,
            threads=settings.embed_threads,
            query_threads=settings.query_embed_threads,
        )
    if kind == "openai" and name:
        from docent.llm.openai_embedder import OpenAIEmbedder

        key = settings.embedder_api_key.get_secret_value() if settings.embedder_api_key else None
        return OpenAIEmbedder(
            name, base_url=settings.embedder_base_url, api_key=key, dimension=settings.embedder_dimension
        )
    raise ConfigurationError(
        f"DOCENT_EMBEDDER={settings.embedder!r} is not understood: use local:<model> or openai:<model>."
    )


def _signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    # Development only (check_secret_key refuses this elsewhere): tokens die with the process.
    get_logger(__name__).warning("no DOCENT_SECRET_KEY: using a random key for this process only")
    return secrets.token_urlsafe(48)
