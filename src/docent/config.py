"""Settings: one object, built once at start-up (CLI or app factory) and passed down.

Nothing here runs at import time; `Settings()` reads `DOCENT_*` variables and `.env` only when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_LENGTH = 32
_WEAK_SECRETS = frozenset({"secret", "changeme", "change-me", "password", "docent", "dev", "development"})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot work; the message tells the operator what to change."""


@dataclass(frozen=True)
class OpenAIProviderSpec:
    """`openai:MODEL[@BASE_URL]`: any OpenAI-compatible server. `api_key` was read from `key_env` (or is
    DOCENT_LLM_API_KEY when no `key_env` was named) when the settings were built."""

    model: str
    base_url: str | None
    key_env: str | None
    timeout: float
    api_key: SecretStr | None = None
    tools: bool = False  # `|tools=true`: the model can call tools, so it may answer in agent mode


@dataclass(frozen=True)
class LlamaCppProviderSpec:
    """`llamacpp:/path/to/model.gguf`: a local model run in this process; the file exists (checked)."""

    path: Path
    timeout: float


ProviderSpec = OpenAIProviderSpec | LlamaCppProviderSpec


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCENT_", env_file=".env", extra="ignore")

    env: Environment = Environment.PRODUCTION
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str = "sqlite:///./data/docent.db"
    redis_url: str | None = None
    storage_dir: Path | None = None
    secret_key: SecretStr | None = None

    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None

    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=365)
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=300, ge=1)
    max_json_body_kb: int = Field(default=256, ge=1)
    log_level: str = "INFO"
    trust_forwarded_for: bool = False
    # Origins (comma-separated, e.g. `https://chat.example.com`) whose pages may call the API from a
    # browser; empty: none (CORS off). `*` allows any origin, without credentials.
    cors_origins: str = ""
    # Who was shown which chunk: recorded for every route that shows chunks, kept this many days.
    access_log_enabled: bool = True
    access_retention_days: int = Field(default=365, ge=1, le=36_500)

    # OpenID Connect single sign-on (see docent.auth.oidc): on when issuer and client id are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_organization: str = "default"  # the slug of the organisation SSO users belong to
    oidc_groups_claim: str = "groups"
    oidc_scopes: str = "openid email profile"
    oidc_redirect_url: str | None = None  # the callback as the provider knows it; default: from the request
    oidc_only: bool = False  # the SSO organisation signs in with SSO only: no local passwords

    # With DOCENT_TRUST_FORWARDED_FOR, X-Forwarded-For is believed only from these proxies (comma-separated).
    forwarded_allow_ips: str = "127.0.0.1,::1"

    # Rate limits (`limits` syntax: `60/minute`, or several as `10/second;600/hour`), counted per user or API
    # key; requests without a valid credential (logins included) count per address against the anonymous one,
    # higher because colleagues behind one proxy share an address. README, "Limits".
    rate_limit_search: str = "120/minute"
    rate_limit_chat: str = "30/minute"
    rate_limit_upload: str = "60/minute"
    rate_limit_anonymous: str = "300/minute"
    max_streams_per_user: int = Field(default=3, ge=1, le=1000)
    max_queued_documents_per_user: int = Field(default=1000, ge=1, le=1_000_000)

    # Documents and ingestion
    max_upload_mb: int = Field(default=50, ge=1, le=10_000)
    max_files_per_upload: int = Field(default=100, ge=1, le=10_000)
    embedder: str = "local:all-MiniLM-L6-v2"
    embedder_base_url: str | None = None
    embedder_api_key: SecretStr | None = None
    embedder_dimension: int | None = Field(default=None, ge=1)
    embed_batch_size: int = Field(default=64, ge=1, le=4096)
    embed_threads: int | None = Field(default=None, ge=1)
    # How a `local:` model runs: ONNX Runtime (exported once from the local weights, README "Embedding
    # model"), the same with int8 weights (a model of its own: its index is rebuilt), or torch.
    embedder_backend: Literal["onnx", "onnx-int8", "torch"] = "onnx"
    model_cache_dir: Path | None = None  # exported models; default: $XDG_CACHE_HOME/docent/models
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=200)
    # Embed and keyword-index a chunk with its document's title and section path before its text. Off: on
    # SciFact train it lowered nDCG@10 (bench/context.py, README "Structure and context").
    chunk_context: bool = False
    url_fetch_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    url_fetch_max_mb: int = Field(default=20, ge=1, le=1000)
    url_fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    url_allow_private_addresses: bool = False
    # Site crawls (`POST /sources`): the most a source may ask for, and how politely it fetches (README).
    source_max_pages: int = Field(default=1000, ge=1, le=100_000)
    source_max_depth: int = Field(default=10, ge=0, le=100)
    source_max_run_seconds: float = Field(default=1800.0, gt=0, le=86_400)
    source_fetch_delay_seconds: float = Field(default=1.0, ge=0, le=60)
    # Each document is parsed in a process of its own, killed past these limits (README, "Hostile files").
    parse_max_memory_mb: int = Field(default=1024, ge=128, le=65_536)
    parse_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    parse_max_text_mb: int = Field(default=20, ge=1, le=1000)
    parse_max_sections: int = Field(default=20_000, ge=1, le=1_000_000)
    parse_max_unpacked_mb: int = Field(default=512, ge=1, le=65_536)

    # Search
    # How hybrid search fuses its two rankings: a convex combination of min-max scaled scores (the vector
    # one weighted `convex_vector_weight`, the keyword one the rest), or reciprocal rank fusion (rrf_*).
    search_fusion: Literal["convex", "rrf"] = "convex"
    convex_vector_weight: float = Field(default=0.5, ge=0, le=1)
    rrf_k: float = Field(default=60.0, gt=0, le=10_000)
    rrf_vector_weight: float = Field(default=1.0, ge=0, le=100)
    rrf_keyword_weight: float = Field(default=1.0, ge=0, le=100)
    # BM25 of the in-memory and PostgreSQL keyword indexes (Lucene's formula; FTS5 keeps its own).
    bm25_k1: float = Field(default=0.9, gt=0, le=10)
    bm25_b: float = Field(default=0.4, ge=0, le=1)
    keyword_index: Literal["memory", "fts5"] = "memory"  # SQLite only: BM25 in memory, or FTS5's bm25()
    search_candidates: int = Field(default=100, ge=1, le=1000)  # depth of each list fused in hybrid mode
    # recall@10 against exact search at 100k chunks (bench/search.py): 0.958 at 100, 0.989 at 200, 1.0 at 400
    hnsw_ef_search: int = Field(default=200, ge=1, le=1000)
    # 2: one short query on 2 threads took 4.1 ms p50 against 6.9 ms on 1 (ONNX, 2-core machine)
    query_embed_threads: int = Field(default=2, ge=1, le=64)

    # Answers
    # Ordered chain: `openai:MODEL[@BASE_URL]`, `llamacpp:/path/to/model.gguf`, ..., then `extractive` (see
    # `parse_providers`; `Settings.providers` holds the parsed entries).
    llm_providers: str = "extractive"
    llm_api_key: SecretStr | None = None
    # `llamacpp:` providers: the window for prompt and reply, the longest reply (a CPU makes a few dozen
    # tokens a second), CPU threads (None: llama.cpp decides), and the layers put on a GPU (only with a GPU
    # build of xllamacpp; -1 is all).
    llamacpp_context_tokens: int = Field(default=4096, ge=1024, le=1_048_576)
    llamacpp_max_tokens: int = Field(default=512, ge=16, le=4096)
    llamacpp_threads: int | None = Field(default=None, ge=1, le=512)
    llamacpp_gpu_layers: int = Field(default=0, ge=-1, le=10_000)
    llm_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    llm_cooldown_seconds: float = Field(default=30.0, ge=0)
    llm_prices: str = ""  # USD per million tokens: `model=prompt/completion,provider:model=p/c`
    # Cosine; below it a passage is not shown to any answerer. Off by default: one cosine cut-off threw away
    # right passages (issue 13); whether to answer is decided by the calibrated confidence below.
    answer_min_relevance: float = Field(default=-1.0, ge=-1, le=1)
    # Below this confidence (`docent.answer.confidence`: the probability, calibrated by bench/confidence.py,
    # that the passages found hold the answer) the answer is "not covered"; unset: the calibrated threshold.
    answer_min_confidence: float | None = Field(default=None, ge=0, le=1)
    answer_top_k: int = Field(default=8, ge=1, le=50)
    # Agent mode (`POST /chat` with `mode: agent`, for a provider with `|tools=true`): at most this many
    # searches, model tokens (prompt and reply, all calls together) and seconds before it answers; each
    # search gives the model at most `agent_top_k` passages.
    agent_max_steps: int = Field(default=4, ge=1, le=20)
    agent_max_tokens: int = Field(default=20_000, ge=1000, le=1_000_000)
    agent_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    agent_top_k: int = Field(default=5, ge=1, le=20)
    # Answer cache: in this process, or in Redis when DOCENT_REDIS_URL is set (shared by every process).
    answer_cache: bool = True
    answer_cache_ttl_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400)
    answer_cache_max_entries: int = Field(default=1000, ge=1, le=1_000_000)  # in-process cache only
    # A comment line sent on a silent answer stream this often, so that a proxy's idle timeout does not cut
    # a slow model's answer.
    sse_ping_seconds: float = Field(default=15.0, gt=0, le=300)

    # Background jobs
    queue_name: str = Field(default="docent", pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    embedded_worker: bool | None = None  # None: on when DOCENT_REDIS_URL is unset
    worker_threads: int = Field(default=1, ge=1, le=64)
    ingest_batch_jobs: int = Field(default=16, ge=1, le=1000)
    job_max_attempts: int = Field(default=5, ge=1, le=100)
    job_lease_seconds: float = Field(default=60.0, gt=0)
    job_backoff_base_seconds: float = Field(default=2.0, ge=0)
    job_sweep_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "files"
        return self

    @field_validator("rate_limit_search", "rate_limit_chat", "rate_limit_upload", "rate_limit_anonymous")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            if parse_many(value):
                return value
        except ValueError:
            pass
        raise ValueError(f"{value!r} is not a rate such as 60/minute (several: 10/second;600/hour)")

    @model_validator(mode="after")
    def _check_providers(self) -> Settings:
        self.providers  # noqa: B018 - parsed now, so that a bad entry stops the start, not the first question
        return self

    @property
    def providers(self) -> tuple[ProviderSpec, ...]:
        """DOCENT_LLM_PROVIDERS parsed. Raises ConfigurationError for an entry it does not understand."""
        return parse_providers(self.llm_providers, self.llm_timeout_seconds, self.llm_api_key)

    @property
    def cors_origin_list(self) -> list[str]:
        """DOCENT_CORS_ORIGINS as a list (an origin is scheme://host[:port], without a trailing slash)."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def model_cache_path(self) -> Path:
        """Where exported models are kept: one place per machine by default, so that every data folder
        (and every test run) reuses one export instead of making its own."""
        if self.model_cache_dir is not None:
            return self.model_cache_dir
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "docent" / "models"

    @property
    def runs_embedded_worker(self) -> bool:
        return self.embedded_worker if self.embedded_worker is not None else not self.redis_url

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_secret_key(self) -> None:
        """Refuse to serve with a missing or guessable signing key outside development."""
        if self.is_development:
            return
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            raise ConfigurationError(
                "DOCENT_SECRET_KEY is not set. Set it to a random string of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`), or set DOCENT_ENV=development."
            )
        if len(key) < MIN_SECRET_KEY_LENGTH or key.lower() in _WEAK_SECRETS or len(set(key)) < 8:
            raise ConfigurationError(
                f"DOCENT_SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters."
            )


_PROVIDERS_SYNTAX = (
    "openai:MODEL[@BASE_URL][|key_env=NAME][|timeout=SECONDS][|tools=true], "
    "llamacpp:/path/to/model.gguf[|timeout=SECONDS] or extractive."
)


def parse_providers(
    text: str, default_timeout: float, default_key: SecretStr | None = None
) -> tuple[ProviderSpec, ...]:
    """Comma-separated entries, tried in order: `openai:MODEL` or `openai:MODEL@BASE_URL` (key from
    DOCENT_LLM_API_KEY), `llamacpp:/path/to/model.gguf` (the file must exist now), and `extractive`, which
    always ends the chain whether written or not (so it gives no entry). Options follow an entry after `|`:
    `timeout=SECONDS` (default DOCENT_LLM_TIMEOUT_SECONDS), and for `openai`, `key_env=NAME`, the environment
    variable holding this provider's key, so that a chain may mix providers with keys of their own, and
    `tools=true`, which says the model can call tools (OpenAI's `tools` protocol), so it may answer in agent
    mode (`docent.answer.agent`)."""
    specs: list[ProviderSpec] = []
    for entry in (part.strip() for part in text.split(",")):
        if entry not in ("", "extractive"):
            specs.append(_provider(entry, default_timeout, default_key))
    return tuple(specs)


def _provider(entry: str, default_timeout: float, default_key: SecretStr | None) -> ProviderSpec:
    head, *option_parts = (part.strip() for part in entry.split("|"))
    options = _entry_options(entry, option_parts)
    kind, _, rest = head.partition(":")
    rest = rest.strip()
    timeout = _timeout_option(entry, options.pop("timeout", None), default_timeout)
    if kind == "llamacpp" and rest and not options:
        path = Path(rest).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"DOCENT_LLM_PROVIDERS entry {entry!r}: there is no model file at {path}."
            )
        return LlamaCppProviderSpec(path.resolve(), timeout)  # loaded later, maybe from another directory
    model, _, base_url = rest.partition("@")
    key_env = options.pop("key_env", None)
    tools = _flag_option(entry, "tools", options.pop("tools", None))
    if kind == "openai" and model.strip() and not options:
        key = default_key if key_env is None else _key_from(entry, key_env)
        return OpenAIProviderSpec(model.strip(), base_url.strip() or None, key_env, timeout, key, tools)
    raise ConfigurationError(
        f"DOCENT_LLM_PROVIDERS entry {entry!r} is not understood: use {_PROVIDERS_SYNTAX}"
    )


def _entry_options(entry: str, parts: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in parts:
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip() or name.strip() in options:
            raise ConfigurationError(f"DOCENT_LLM_PROVIDERS entry {entry!r}: {part!r} is not NAME=VALUE.")
        options[name.strip()] = value.strip()
    return options


def _flag_option(entry: str, name: str, value: str | None) -> bool:
    if value is None or value.lower() in ("false", "no", "off", "0"):
        return False
    if value.lower() in ("true", "yes", "on", "1"):
        return True
    raise ConfigurationError(f"DOCENT_LLM_PROVIDERS entry {entry!r}: {name} is true or false.")


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


def _key_from(entry: str, key_env: str) -> SecretStr:
    """The key in the environment variable `key_env`, read now (like every setting); never logged."""
    value = os.environ.get(key_env, "").strip()
    if not value:
        raise ConfigurationError(
            f"DOCENT_LLM_PROVIDERS entry {entry!r}: the environment variable {key_env} holds no key."
        )
    return SecretStr(value)
