"""Which adapter serves each port, picked from the settings: the embedder, the search indexes, the chat
models of the provider chain (from the typed specs `docent.config` parsed), and the answer cache with the
key its answers are stored under. Only `docent.container` calls these (and tests that build one alone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from docent.answer.agent import AgentLimits
from docent.answer.agent_answer import AgentAnswerer
from docent.answer.cache import AnswerCache, InProcessAnswerCache, RedisAnswerCache
from docent.answer.chain import Answerer, LLMAnswerer, ProviderChain
from docent.answer.cost import parse_price_table
from docent.answer.extractive import ExtractiveAnswerer
from docent.answer.recall import AnswerRecall, answer_setup
from docent.config import (
    ConfigurationError,
    LlamaCppProviderSpec,
    OpenAIProviderSpec,
    ProviderSpec,
    Settings,
)
from docent.llm.chat import ChatModel
from docent.llm.llamacpp_chat import LlamaCppChatModel
from docent.llm.openai_chat import OpenAIChatModel
from docent.llm.ports import Embedder
from docent.search.backends.fts5 import Fts5KeywordIndex
from docent.search.backends.memory_bm25 import MemoryBm25Index
from docent.search.backends.memory_matrix import MemoryMatrixIndex
from docent.search.backends.postgres import PgVectorIndex
from docent.search.backends.postgres_bm25 import PostgresKeywordIndex
from docent.search.ports import KeywordIndex, VectorIndex


class OwnedChatModel(ChatModel, Protocol):
    """A chat model made here: it holds connections or a loaded model until `close()`."""

    def close(self) -> None: ...


def build_provider_chain(
    settings: Settings, embedder: Embedder, made: list[OwnedChatModel] | None = None
) -> ProviderChain:
    """The answerers of `settings.providers` (DOCENT_LLM_PROVIDERS, parsed and checked with the settings),
    in order, then the extractive answerer on the shared embedder. The chat models made are appended to
    `made`, whose owner closes them."""
    providers: list[Answerer] = []
    for spec in settings.providers:
        chat, answerer = _chat_provider(settings, spec)
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
        min_confidence=settings.answer_min_confidence,
        prices=prices,
    )


def build_agent(settings: Settings, chain: ProviderChain, made: Sequence[OwnedChatModel]) -> AgentAnswerer:
    """Agent mode for `chain`, with the chat models `build_provider_chain` made (in the order of the
    providers) whose entries say `tools=true`."""
    models = {
        f"{model.provider}:{model.model}": model
        for spec, model in zip(settings.providers, made, strict=True)
        if isinstance(spec, OpenAIProviderSpec) and spec.tools and isinstance(model, OpenAIChatModel)
    }
    limits = AgentLimits(
        max_steps=settings.agent_max_steps,
        max_tokens=settings.agent_max_tokens,
        seconds=settings.agent_timeout_seconds,
        top_k=settings.agent_top_k,
    )
    return AgentAnswerer(
        chain,
        models,
        limits,
        min_relevance=settings.answer_min_relevance,
        prices=parse_price_table(settings.llm_prices),  # checked by build_provider_chain
    )


def _chat_provider(settings: Settings, spec: ProviderSpec) -> tuple[OwnedChatModel, Answerer]:
    if isinstance(spec, LlamaCppProviderSpec):
        local = LlamaCppChatModel(
            spec.path,
            context_tokens=settings.llamacpp_context_tokens,
            threads=settings.llamacpp_threads,
            gpu_layers=settings.llamacpp_gpu_layers,
            timeout_seconds=spec.timeout,
        )
        window, longest = settings.llamacpp_context_tokens, settings.llamacpp_max_tokens
        return local, LLMAnswerer.within_window(local, window, longest)
    key = spec.api_key.get_secret_value() if spec.api_key else None
    remote = OpenAIChatModel(spec.model, base_url=spec.base_url, api_key=key, timeout_seconds=spec.timeout)
    return remote, LLMAnswerer(remote)


def build_answer_cache(settings: Settings) -> AnswerCache | None:
    """Redis when configured (every process shares the answers), else this process; None when disabled."""
    if not settings.answer_cache:
        return None
    if settings.redis_url:
        return RedisAnswerCache.from_url(settings.redis_url, f"{settings.queue_name}:answers")
    return InProcessAnswerCache(settings.answer_cache_max_entries)


def build_recall(
    settings: Settings, cache: AnswerCache | None, chain: ProviderChain, embedder: Embedder
) -> AnswerRecall | None:
    """The answer cache as the chat service uses it, its keys made for this configuration (`answer_setup`:
    the answerers of `chain` in order, the embedding model, the answer-shaping settings)."""
    if cache is None:
        return None
    setup = answer_setup(settings, [f"{a.provider}:{a.model}" for a in chain.answerers()], embedder.model_id)
    return AnswerRecall(cache, ttl_seconds=settings.answer_cache_ttl_seconds, setup=setup)


def build_search_indexes(settings: Settings, embedder: Embedder) -> tuple[VectorIndex, KeywordIndex]:
    """SQLite: exact cosine over an in-memory matrix, and BM25 in memory (or FTS5's bm25(), which needs no
    memory but scores every matching row). PostgreSQL: pgvector HNSW, and BM25 over the tsvector."""
    if settings.is_sqlite:
        bm25 = MemoryBm25Index(settings.bm25_k1, settings.bm25_b)
        return MemoryMatrixIndex(embedder), Fts5KeywordIndex() if settings.keyword_index == "fts5" else bm25
    keywords = PostgresKeywordIndex(settings.bm25_k1, settings.bm25_b)
    return PgVectorIndex(embedder, ef_search=settings.hnsw_ef_search), keywords


def build_embedder(settings: Settings) -> Embedder:
    """`local:<model>` runs on this machine; `openai:<model>` calls an OpenAI-compatible server."""
    kind, _, name = settings.embedder.partition(":")
    if kind == "local" and name:
        threads, query_threads = settings.embed_threads, settings.query_embed_threads
        if settings.embedder_backend == "torch":
            from docent.llm.local_embedder import LocalEmbedder

            return LocalEmbedder(
                name, batch_size=settings.embed_batch_size, threads=threads, query_threads=query_threads
            )
        from docent.llm.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(
            name,
            cache_dir=settings.model_cache_path,
            int8=settings.embedder_backend == "onnx-int8",
            batch_size=settings.embed_batch_size,
            threads=threads,
            query_threads=query_threads,
        )
    if kind == "openai" and name:
        from docent.llm.openai_embedder import OpenAIEmbedder

        key = settings.embedder_api_key.get_secret_value() if settings.embedder_api_key else None
        dimension = settings.embedder_dimension
        return OpenAIEmbedder(name, base_url=settings.embedder_base_url, api_key=key, dimension=dimension)
    raise ConfigurationError(
        f"DOCENT_EMBEDDER={settings.embedder!r} is not understood: use local:<model> or openai:<model>."
    )
