"""DOCENT_LLM_PROVIDERS: parsed into typed specs when the settings are built, and a bad entry refused then,
with a message that names it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from docent.config import ConfigurationError, LlamaCppProviderSpec, OpenAIProviderSpec, Settings


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=Path("/nonexistent"), **values)


def test_entries_become_typed_specs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"not read")
    monkeypatch.setenv("DOCENT_TEST_OWN_KEY", "sk-own")
    built = settings(
        llm_providers=f"openai:a@http://127.0.0.1:9/v1|timeout=3, openai:b|key_env=DOCENT_TEST_OWN_KEY,"
        f" llamacpp: {model} , extractive",
        llm_api_key="sk-shared",
        llm_timeout_seconds=12,
    )
    first, second, local = built.providers
    assert first == OpenAIProviderSpec("a", "http://127.0.0.1:9/v1", None, 3.0, SecretStr("sk-shared"))
    assert (second.model, second.base_url, second.key_env, second.timeout) == (
        "b",
        None,
        "DOCENT_TEST_OWN_KEY",
        12,
    )
    assert isinstance(second, OpenAIProviderSpec) and second.api_key is not None
    assert second.api_key.get_secret_value() == "sk-own"
    assert local == LlamaCppProviderSpec(model.resolve(), 12)
    assert "sk-own" not in repr(built.providers)


def test_extractive_alone_gives_no_spec() -> None:
    assert settings().providers == () and settings(llm_providers=" extractive ,").providers == ()


def test_a_missing_model_file_is_refused_naming_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(
        ConfigurationError, match=f"DOCENT_LLM_PROVIDERS .*no model file at {re.escape(str(missing))}"
    ):
        settings(llm_providers=f"llamacpp:{missing}")
    with pytest.raises(ConfigurationError, match="no model file at"):  # a folder is not a model either
        settings(llm_providers=f"llamacpp:{tmp_path}")


@pytest.mark.parametrize(
    "providers",
    ["ollama:llama3", "openai:", "openai", "gpt-4o", "llamacpp:", "llamacpp", "llama.cpp:/m.gguf"],
)
def test_an_entry_it_does_not_understand_is_refused(providers: str) -> None:
    with pytest.raises(ConfigurationError, match="DOCENT_LLM_PROVIDERS"):
        settings(llm_providers=providers)


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
        settings(llm_providers=providers)


def test_a_bad_entry_in_the_environment_stops_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCENT_LLM_PROVIDERS", "openai:m|colour=blue")
    with pytest.raises(ConfigurationError, match=r"entry 'openai:m\|colour=blue' is not understood"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_remote_provider_may_say_it_can_call_tools(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"not read")
    tools, plain, off = settings(llm_providers="openai:a|tools=true, openai:b, openai:c|tools=no").providers
    assert isinstance(tools, OpenAIProviderSpec) and tools.tools is True
    assert isinstance(plain, OpenAIProviderSpec) and plain.tools is False
    assert isinstance(off, OpenAIProviderSpec) and off.tools is False
    with pytest.raises(ConfigurationError, match="tools is true or false"):
        settings(llm_providers="openai:a|tools=maybe")
    with pytest.raises(ConfigurationError, match="not understood"):  # a local model does not call tools
        settings(llm_providers=f"llamacpp:{model}|tools=true")
