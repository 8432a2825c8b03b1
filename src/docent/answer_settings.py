"""Which settings shape an answer, and so key the answer cache (`docent.answer.recall`), and which do not."""

from __future__ import annotations

from docent.config import Settings

# Every setting is named in exactly one of these two sets (tests/unit/test_config.py checks it). The first
# holds what shapes an answer besides the question and the documents: it is part of the answer cache's key
# (`docent.answer.recall.answer_setup`), so an answer cached under another configuration is never served.
# A setting named in neither counts as answer-shaping: a forgotten one costs cache hits, never a stale answer.
ANSWER_SHAPING_SETTINGS = frozenset(
    {
        "embedder",  # with the embedder's model id, which the container adds
        "embedder_dimension",
        "search_fusion",
        "convex_vector_weight",
        "rrf_k",
        "rrf_vector_weight",
        "rrf_keyword_weight",
        "keyword_index",
        "bm25_k1",
        "bm25_b",
        "search_candidates",
        "hnsw_ef_search",
        "llm_providers",  # with the answerers, which the container adds
        "llamacpp_context_tokens",
        "llamacpp_max_tokens",
        "answer_min_relevance",
        "answer_min_confidence",
        "answer_top_k",
    }
)
OTHER_SETTINGS = frozenset(
    {
        # where things are, who may log in, how requests are bounded
        *("env", "host", "port", "data_dir", "database_url", "redis_url", "storage_dir", "secret_key"),
        *("admin_email", "admin_password", "access_token_minutes", "refresh_token_days"),
        *("login_failures_per_account", "login_failures_per_address", "login_failure_window_seconds"),
        *("max_json_body_kb", "log_level", "trust_forwarded_for", "max_upload_mb", "max_files_per_upload"),
        *("cors_origins", "access_log_enabled", "access_retention_days"),
        *("oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_organization", "oidc_groups_claim"),
        *("oidc_scopes", "oidc_redirect_url", "oidc_only"),
        *("forwarded_allow_ips", "rate_limit_search", "rate_limit_chat", "rate_limit_upload"),
        *("rate_limit_anonymous", "max_streams_per_user", "max_queued_documents_per_user"),
        # how fast or where work runs, not what it computes
        *(
            "embedder_base_url",
            "embedder_api_key",
            "embed_batch_size",
            "embed_threads",
            "query_embed_threads",
            "model_cache_dir",
        ),
        "embedder_backend",  # float32 ONNX gives torch's vectors; int8 changes the model id, which is keyed
        "chunk_overlap_tokens",  # chunks are cut at ingestion: a changed document changes the readable state
        "chunk_context",  # likewise applied at ingestion
        *("url_fetch_timeout_seconds", "url_fetch_max_mb", "url_fetch_max_redirects"),
        "url_allow_private_addresses",
        # what a site crawl may fetch: the documents it makes are keyed by their content like any other
        *("source_max_pages", "source_max_depth", "source_max_run_seconds", "source_fetch_delay_seconds"),
        *("llm_api_key", "llamacpp_threads", "llamacpp_gpu_layers", "llm_timeout_seconds"),
        # agent answers are never cached (`docent.answer.service`), so their bounds key nothing
        *("agent_max_steps", "agent_max_tokens", "agent_timeout_seconds", "agent_top_k"),
        *("llm_cooldown_seconds", "llm_prices"),  # a cached answer costs nothing, whatever the prices
        *("answer_cache", "answer_cache_ttl_seconds", "answer_cache_max_entries", "sse_ping_seconds"),
        *("queue_name", "embedded_worker", "worker_threads", "ingest_batch_jobs", "job_max_attempts"),
        *("job_lease_seconds", "job_backoff_base_seconds", "job_sweep_seconds"),
        # how a document is parsed is bounded, not changed: a document cut off fails, it is not indexed
        *("parse_timeout_seconds", "parse_max_memory_mb", "parse_max_text_mb", "parse_max_sections"),
        "parse_max_unpacked_mb",
    }
)


def answer_shaping_values(settings: Settings) -> dict[str, object]:
    """The answer-shaping settings and their values (JSON-ready; secrets stay masked)."""
    shaping = set(Settings.model_fields) - OTHER_SETTINGS
    return settings.model_dump(mode="json", include=shaping)


# ---------- DOCENT_LLM_PROVIDERS ----------
