"""Settings: one object, built once at start-up (CLI or app factory) and passed down.

Nothing here runs at import time; `Settings()` reads `DOCENT_*` variables and `.env` only when called.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_LENGTH = 32
_WEAK_SECRETS = frozenset({"secret", "changeme", "change-me", "password", "docent", "dev", "development"})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot work; the message tells the operator what to change."""


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

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / "files"
        return self

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
