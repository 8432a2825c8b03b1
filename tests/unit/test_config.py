from __future__ import annotations

import pytest

from docent.answer_settings import ANSWER_SHAPING_SETTINGS, OTHER_SETTINGS
from docent.config import ConfigurationError, Environment, Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_production_requires_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCENT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="DOCENT_SECRET_KEY is not set"):
        _settings(env="production").check_secret_key()


@pytest.mark.parametrize("weak", ["changeme", "short-key", "a" * 64, "secret"])
def test_weak_secret_keys_are_refused(weak: str) -> None:
    with pytest.raises(ConfigurationError, match="too weak"):
        _settings(env="production", secret_key=weak).check_secret_key()


def test_development_runs_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCENT_SECRET_KEY", raising=False)
    settings = _settings(env="development")
    settings.check_secret_key()
    assert settings.env is Environment.DEVELOPMENT


def test_environment_variables_use_the_docent_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCENT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("DOCENT_ACCESS_TOKEN_MINUTES", "5")
    settings = _settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.access_token_minutes == 5
    assert not settings.is_sqlite


def test_storage_dir_follows_the_data_dir(tmp_path: object) -> None:
    settings = _settings(data_dir=tmp_path)
    assert str(settings.storage_dir).startswith(str(tmp_path))


def test_the_secret_key_never_shows_in_repr() -> None:
    settings = _settings(secret_key="a-very-secret-signing-key-0123456789")
    assert "a-very-secret-signing-key" not in repr(settings)


def test_every_setting_is_declared_answer_shaping_or_not() -> None:
    """A new setting must be put in one of the two sets (docent.config): the answer cache's key is made of
    the first, so a setting that shapes answers cannot be left out of it unnoticed."""
    fields = set(Settings.model_fields)
    assert ANSWER_SHAPING_SETTINGS.isdisjoint(OTHER_SETTINGS)
    assert fields - ANSWER_SHAPING_SETTINGS - OTHER_SETTINGS == set(), "classify these settings"
    assert (ANSWER_SHAPING_SETTINGS | OTHER_SETTINGS) - fields == set(), "these settings no longer exist"
