"""The one place that picks adapters: everything the app and the CLI need, built from the settings."""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from docent.answer.cache import AnswerCache, InProcessAnswerCache, RedisAnswerCache
from docent.answer.chain import Answerer, LLMAnswerer, ProviderChain
from docent.answer.cost import parse_price_table
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.feedback import FeedbackService
from docent.answer.recall import AnswerRecall
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
from docent.llm.chat import ChatModel
from docent.llm.llamacpp_chat import LlamaCppChatModel
from docent.llm.openai_chat import OpenAIChatModel
from docent.llm.ports import Embedder
from docent.observability.logs import get_logger
from docent.search.backends.fts5 import Fts5KeywordIndex
from docent.search.backends.memory_bm25 import MemoryBm25Index
from docent.search.backends.memory_matrix import MemoryMatrixIndex
from docent.search.backends.memory_rows import MemoryIndex
from docent.search.backends.postgres import PgVectorIndex, PostgresKeywordIndex
from docent.search.index_check import index_model_mismatch
from docent.search.ports import KeywordIndex, VectorIndex
from docent.search.retrieve import FusionSettings, Retriever
from docent.storage.blobs import BlobStore

# What a local model's prompt holds besides passages and history: the instructions, the question and the
# chat template, as counted by the over-estimating `count_tokens`.
_LOCAL_PROMPT_OVERHEAD_TOKENS = 512


class OwnedChatModel(ChatModel, Protocol):
    """A chat model the container made: it holds connections or a loaded model until `close()`."""

    def close(self) -> None: ...


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
    chat_models: list[OwnedChatModel] = field(default_factory=list)  # closed with the container
    answer_cache: AnswerCache | None = None  # closed with the container
    feedback: FeedbackService = field(default_factory=FeedbackService)

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

    def warm_search(self) -> threading.Thread | None:
        """Derive the in-memory search indexes in the background, so that the first query after start-up
        does not wait for them (seconds at 100k chunks); a query arriving meanwhile waits for the same
        derivation instead of starting its own."""
        indexes = [i for i in (self.retriever.vectors, self.retriever.keywords) if isinstance(i, MemoryIndex)]
        if not indexes:
            return None

        def warm() -> None:
            try:
                for index in indexes:
                    with self.database.unit_of_work(write=False) as uow:
                        index.current(uow)
            except Exception:  # the service may be closing; the next query derives them anyway
                get_logger(__name__).warning("search_warm_up_failed", exc_info=True)

        thread = threading.Thread(target=warm, name="docent-warm-search", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        for model in self.chat_models:
            model.close()
        if self.answer_cache is not None:
            self.answer_cache.close()
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
    chat_models: list[OwnedChatModel] = []
    chain = build_provider_chain(settings, embedder, chat_models)
    answer_cache = build_answer_cache(settings)
    recall = (
        AnswerRecall(
            answer_cache,
            ttl_seconds=settings.answer_cache_ttl_seconds,
            setup=answer_setup(settings, chain, embedder),
        )
        if answer_cache is not None
        else None
    )
    chat = ChatService(database, retriever, chain, top_k=settings.answer_top_k, recall=recall)
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
        answer_cache=answer_cache,
    )


def build_provider_chain(
    settings: Settings, embedder: Embedder, made: list[OwnedChatModel] | None = None
) -> ProviderChain:
    """`DOCENT_LLM_PROVIDERS`: comma-separated, tried in order; `openai:MODEL` or `openai:MODEL@BASE_URL` (any
    OpenAI-compatible server, key from `DOCENT_LLM_API_KEY`), `llamacpp:/path/to/model.gguf` (a local model
    run in this process, loaded on first use; the file must exist now), and `extractive`, which always ends
    the chain whether written or not. The extractive answerer uses the shared embedder. The chat models made
    are appended to `made`, whose owner closes them."""
    providers: list[Answerer] = []
    for entry in (part.strip() for part in settings.llm_providers.split(",")):
        if entry in ("", "extractive"):
            continue
        chat, answerer = _chat_provider(settings, entry)
        providers.append(answerer)
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


def _chat_provider(settings: Settings, entry: str) -> tuple[OwnedChatModel, Answerer]:
    """One entry: `KIND:WHAT`, then options after `|`: `timeout=SECONDS` (default DOCENT_LLM_TIMEOUT_SECONDS),
    and for `openai`, `key_env=NAME`, the environment variable holding this provider's key (default
    DOCENT_LLM_API_KEY), so that a chain may mix providers with keys of their own."""
    head, *option_parts = (part.strip() for part in entry.split("|"))
    options = _entry_options(entry, option_parts)
    kind, _, rest = head.partition(":")
    rest = rest.strip()
    timeout = _timeout_option(entry, options.pop("timeout", None), settings.llm_timeout_seconds)
    if kind == "llamacpp" and rest and not options:
        path = Path(rest).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"DOCENT_LLM_PROVIDERS entry {entry!r}: there is no model file at {path}."
            )
        local = LlamaCppChatModel(
            path.resolve(),  # loaded later, maybe from another working directory
            context_tokens=settings.llamacpp_context_tokens,
            threads=settings.llamacpp_threads,
            gpu_layers=settings.llamacpp_gpu_layers,
            timeout_seconds=timeout,
        )
        return local, _fit_to_window(local, settings.llamacpp_context_tokens, settings.llamacpp_max_tokens)
    model, _, base_url = rest.partition("@")
    key_env = options.pop("key_env", None)
    if kind == "openai" and model.strip() and not options:
        remote = OpenAIChatModel(
            model.strip(),
            base_url=base_url.strip() or None,
            api_key=_provider_key(entry, key_env, settings),
            timeout_seconds=timeout,
        )
        return remote, LLMAnswerer(remote)
    raise ConfigurationError(
        f"DOCENT_LLM_PROVIDERS entry {entry!r} is not understood: use "
        "openai:MODEL[@BASE_URL][|key_env=NAME][|timeout=SECONDS], "
        "llamacpp:/path/to/model.gguf[|timeout=SECONDS] or extractive."
    )


def _entry_options(entry: str, parts: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in parts:
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip() or name.strip() in options:
            raise ConfigurationError(f"DOCENT_LLM_PROVIDERS entry {entry!r}: {part!r} is not NAME=VALUE.")
        options[name.strip()] = value.strip()
    return options


def _timeout_option(entry: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise ConfigurationError(
            f"DOCENT_LLM_PROVIDERS entry {entry!r}: timeout is seconds, above 0, at most 600."
        )
    return seconds


def _provider_key(entry: str, key_env: str | None, settings: Settings) -> str | None:
    """The key named by `key_env` (read from the environment now; never logged), else DOCENT_LLM_API_KEY."""
    if key_env is None:
        return settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    value = os.environ.get(key_env, "").strip()
    if not value:
        raise ConfigurationError(
            f"DOCENT_LLM_PROVIDERS entry {entry!r}: the environment variable {key_env} holds no key."
        )
    return value


def _fit_to_window(chat: LlamaCppChatModel, window: int, max_tokens: int) -> LLMAnswerer:
    """An answerer whose prompt and reply of up to `max_tokens` fit in a local model's `window` (llama.cpp
    refuses a longer prompt): passages and history get what remote models get (3000 and 1000 tokens) when
    there is room, else three quarters and one quarter of what is left."""
    room = window - max_tokens - _LOCAL_PROMPT_OVERHEAD_TOKENS
    context = min(3000, max(256, room * 3 // 4))  # a tiny window still gets the best passage
    history = min(1000, max(0, room - context))
    return LLMAnswerer(chat, max_tokens=max_tokens, context_tokens=context, history_tokens=history)


def build_answer_cache(settings: Settings) -> AnswerCache | None:
    """Redis when configured (every process shares the answers), else this process; None when disabled."""
    if not settings.answer_cache:
        return None
    if settings.redis_url:
        return RedisAnswerCache.from_url(settings.redis_url, f"{settings.queue_name}:answers")
    return InProcessAnswerCache(settings.answer_cache_max_entries)


def answer_setup(settings: Settings, chain: ProviderChain, embedder: Embedder) -> str:
    """What shapes an answer besides the question and the documents: part of every answer cache key, so
    answers cached (in Redis, across restarts) under another configuration are never served."""
    return json.dumps(
        {
            "answerers": [f"{a.provider}:{a.model}" for a in chain.answerers()],
            "embedder": embedder.model_id,
            **settings.model_dump(
                mode="json",
                include={
                    "llm_providers",
                    "answer_min_relevance",
                    "answer_top_k",
                    "rrf_k",
                    "rrf_vector_weight",
                    "rrf_keyword_weight",
                    "search_candidates",
                    "hnsw_ef_search",
                    "keyword_index",
                    "llamacpp_context_tokens",
                    "llamacpp_max_tokens",
                },
            ),
        },
        sort_keys=True,
    )


def build_search_indexes(settings: Settings, embedder: Embedder) -> tuple[VectorIndex, KeywordIndex]:
    """SQLite: exact cosine over an in-memory matrix, and BM25 in memory (or FTS5's bm25(), which needs no
    memory but scores every matching row). PostgreSQL: pgvector HNSW, and BM25 over the tsvector."""
    if settings.is_sqlite:
        keywords = Fts5KeywordIndex() if settings.keyword_index == "fts5" else MemoryBm25Index()
        return MemoryMatrixIndex(embedder), keywords
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
