"""The one place that picks adapters: everything the app and the CLI need, built from the settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

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
from docent.llm.ports import Embedder
from docent.observability.logs import get_logger
from docent.search.index_check import index_model_mismatch
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
    worker: Worker | None = None

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
    )


def build_embedder(settings: Settings) -> Embedder:
    """`local:<model>` runs on this machine; `openai:<model>` calls an OpenAI-compatible server."""
    kind, _, name = settings.embedder.partition(":")
    if kind == "local" and name:
        from docent.llm.local_embedder import LocalEmbedder

        return LocalEmbedder(name, batch_size=settings.embed_batch_size, threads=settings.embed_threads)
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
