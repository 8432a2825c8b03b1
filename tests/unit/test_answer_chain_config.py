"""DOCENT_LLM_PROVIDERS and DOCENT_LLM_PRICES: what the container builds from them, and clear refusals.
(The llama.cpp model itself runs in tests/integration/test_llamacpp.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from docent.config import ConfigurationError, Settings
from docent.container import OwnedChatModel, build_provider_chain
from docent.llm.llamacpp_chat import LlamaCppChatModel


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


def test_the_default_chain_is_the_extractive_answerer_alone() -> None:
    made: list[OwnedChatModel] = []
    chain = build_provider_chain(settings(), None, made)  # type: ignore[arg-type]
    assert made == [] and chain.resting() == []


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


def test_a_missing_model_file_is_refused_naming_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(
        ConfigurationError, match=f"DOCENT_LLM_PROVIDERS .*no model file at {re.escape(str(missing))}"
    ):
        build_provider_chain(settings(llm_providers=f"llamacpp:{missing}"), None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="no model file at"):  # a folder is not a model either
        build_provider_chain(settings(llm_providers=f"llamacpp:{tmp_path}"), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "providers",
    ["ollama:llama3", "openai:", "openai", "gpt-4o", "llamacpp:", "llamacpp", "llama.cpp:/m.gguf"],
)
def test_an_entry_it_does_not_understand_is_refused(providers: str) -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PROVIDERS"):
        build_provider_chain(settings(llm_providers=providers), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("providers", "problem"),
    [
        ("openai:m|timeout=0", "timeout is seconds"),
        ("openai:m|timeout=soon", "timeout is seconds"),
        ("openai:m|key_env=DOCENT_TEST_UNSET_KEY", "DOCENT_TEST_UNSET_KEY holds no key"),
        ("openai:m|colour=blue", "not understood"),
        ("openai:m|timeout", "is not NAME=VALUE"),
        ("llamacpp:/m.gguf|key_env=X", "not understood"),
    ],
)
def test_entry_options_are_checked(providers: str, problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCENT_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=problem):
        build_provider_chain(settings(llm_providers=providers), None)  # type: ignore[arg-type]


def test_a_bad_price_table_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PRICES"):
        build_provider_chain(settings(llm_prices="gpt=cheap"), None)  # type: ignore[arg-type]
