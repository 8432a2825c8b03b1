"""What the container builds from DOCENT_LLM_PROVIDERS and DOCENT_LLM_PRICES.

Parsing and refusing entries: tests/unit/test_config_providers.py; the llama.cpp model itself runs in
tests/integration/test_llamacpp.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from docent.adapters import OwnedChatModel, build_provider_chain
from docent.config import ConfigurationError, Settings
from docent.llm.llamacpp_chat import LlamaCppChatModel


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


def test_the_default_chain_is_the_extractive_answerer_alone() -> None:
    made: list[OwnedChatModel] = []
    chain = build_provider_chain(settings(), None, made)  # type: ignore[arg-type]
    assert made == [] and chain.resting() == []
    assert [a.provider for a in chain.answerers()] == ["extractive"]


def test_remote_providers_come_first_in_order() -> None:
    made: list[OwnedChatModel] = []
    build_provider_chain(
        settings(llm_providers="openai:a@http://127.0.0.1:9/v1, openai:b ,extractive"),
        None,  # type: ignore[arg-type]
        made,
    )
    assert [(m.provider, m.model) for m in made] == [("openai", "a"), ("openai", "b")]


def test_a_local_model_takes_its_place_in_the_chain_and_is_not_loaded_yet(tmp_path: Path) -> None:
    path = tmp_path / "Site-Model.Q4_K_M.gguf"
    path.write_bytes(b"not loaded, so never read")
    made: list[OwnedChatModel] = []
    chain = build_provider_chain(
        settings(llm_providers=f"openai:a@http://127.0.0.1:9/v1, llamacpp: {path} , extractive"),
        None,  # type: ignore[arg-type]
        made,
    )
    assert [(m.provider, m.model) for m in made] == [("openai", "a"), ("llamacpp", "Site-Model.Q4_K_M")]
    assert [a.provider for a in chain.answerers()] == ["openai", "llamacpp", "extractive"]
    local = made[1]
    assert isinstance(local, LlamaCppChatModel) and local._server is None


def test_a_bad_price_table_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PRICES"):
        build_provider_chain(settings(llm_prices="gpt=cheap"), None)  # type: ignore[arg-type]
