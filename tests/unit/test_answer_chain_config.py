"""DOCENT_LLM_PROVIDERS and DOCENT_LLM_PRICES: what the container builds from them, and clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docent.config import ConfigurationError, Settings
from docent.container import build_provider_chain
from docent.llm.openai_chat import OpenAIChatModel


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


def test_the_default_chain_is_the_extractive_answerer_alone() -> None:
    made: list[OpenAIChatModel] = []
    chain = build_provider_chain(settings(), None, made)  # type: ignore[arg-type]
    assert made == [] and chain.resting() == []


def test_remote_providers_come_first_in_order() -> None:
    made: list[OpenAIChatModel] = []
    build_provider_chain(
        settings(llm_providers="openai:a@http://127.0.0.1:9/v1, openai:b ,extractive"),
        None,  # type: ignore[arg-type]
        made,
    )
    assert [(m.provider, m.model) for m in made] == [("openai", "a"), ("openai", "b")]


@pytest.mark.parametrize("providers", ["ollama:llama3", "openai:", "openai", "gpt-4o"])
def test_an_entry_it_does_not_understand_is_refused(providers: str) -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PROVIDERS"):
        build_provider_chain(settings(llm_providers=providers), None)  # type: ignore[arg-type]


def test_a_bad_price_table_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PRICES"):
        build_provider_chain(settings(llm_prices="gpt=cheap"), None)  # type: ignore[arg-type]
