"""The answer cache's `setup`: every answer-shaping setting, the answerers and the embedding model are in it,
so an answer cached (in Redis, across restarts) under another configuration is never served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docent.answer.recall import answer_setup
from docent.answer_settings import ANSWER_SHAPING_SETTINGS
from docent.config import Settings

# A valid value other than the default, for each answer-shaping setting.
CHANGED: dict[str, Any] = {
    "embedder": "openai:text-embedding-3-small",
    "embedder_dimension": 256,
    "search_fusion": "rrf",
    "convex_vector_weight": 0.35,
    "rrf_k": 30.0,
    "rrf_vector_weight": 2.0,
    "rrf_keyword_weight": 0.5,
    "keyword_index": "fts5",
    "bm25_k1": 2.0,
    "bm25_b": 0.9,
    "search_candidates": 50,
    "hnsw_ef_search": 400,
    "llm_providers": "openai:gpt-x@http://127.0.0.1:9/v1, extractive",
    "llamacpp_context_tokens": 8192,
    "llamacpp_max_tokens": 256,
    "answer_min_relevance": 0.5,
    "answer_min_confidence": 0.6,
    "answer_top_k": 4,
}
ANSWERERS = ["extractive:all-MiniLM-L6-v2"]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


def setup(**values: Any) -> str:
    return answer_setup(settings(**values), ANSWERERS, "all-MiniLM-L6-v2")


def test_every_answer_shaping_setting_has_a_changed_value_here() -> None:
    assert set(CHANGED) == ANSWER_SHAPING_SETTINGS


@pytest.mark.parametrize("name", sorted(ANSWER_SHAPING_SETTINGS))
def test_changing_an_answer_shaping_setting_changes_the_setup(name: str) -> None:
    assert getattr(settings(), name) != CHANGED[name]
    assert setup(**{name: CHANGED[name]}) != setup()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("answer_cache_ttl_seconds", 60),
        ("llm_timeout_seconds", 5.0),
        ("sse_ping_seconds", 1.0),
        ("port", 9000),
    ],
)
def test_a_setting_that_shapes_no_answer_keeps_the_setup(name: str, value: Any) -> None:
    assert setup(**{name: value}) == setup()


def test_the_answerers_and_the_embedding_model_are_part_of_it() -> None:
    base = settings()
    assert answer_setup(base, ANSWERERS, "m") != answer_setup(base, ["openai:gpt-x", *ANSWERERS], "m")
    assert answer_setup(base, ANSWERERS, "m") != answer_setup(base, ANSWERERS, "other-model")


def test_secrets_never_enter_it() -> None:
    assert "sk-secret" not in answer_setup(settings(llm_api_key="sk-secret"), ANSWERERS, "m")
