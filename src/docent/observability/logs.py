"""JSON logs with structlog; every record passes a redactor so credentials never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

REDACTED = "[redacted]"
_SECRET_KEY_NAMES = re.compile(r"pass(word)?|secret|token|authorization|api_?key|cookie|credential", re.I)
_SECRET_VALUES = re.compile(
    r"eyJ[\w-]+\.[\w-]+\.[\w-]+"  # JWTs
    r"|\b(?:dk|drt)_[\w-]{6,}"  # Docent API keys and refresh tokens
    r"|(?i:bearer)\s+[\w.~+/=-]+"
    r"|\$argon2\w*\$[^\s'\"]+"
)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUES.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEY_NAMES.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    return {
        key: REDACTED if key != "event" and _SECRET_KEY_NAMES.search(key) else _scrub(value)
        for key, value in event_dict.items()
    }


def configure_logging(level: str = "INFO", stream: TextIO | None = None, *, file: Path | None = None) -> None:
    """Route structlog and the standard library (uvicorn, alembic) through one JSON renderer, to `stream`
    (default stderr) or to `file`, which rotates at 10 MB and keeps three old files."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(file, maxBytes=10 * 1024 * 1024, backupCount=3, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Access lines come from Docent's own middleware, which knows the request id and the user.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
