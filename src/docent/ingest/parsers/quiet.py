"""Silencing the parsing libraries while they run, and translating what they raise.

pypdf, trafilatura and their helpers warn and log about every malformed object they step over.
Those messages are noise for us: a file either parses (possibly with a warning we word ourselves)
or fails with a ParseFailure. Python's warning filters and logger levels are process-wide, so
concurrent parses share one silenced period (counted under a lock) instead of each saving and
restoring the global state, which would race. While any parse runs, other threads' warnings
are silenced too; that is the price of the process-wide `warnings` module.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator

from docent.errors import ErrorCode
from docent.ingest.types import ParseFailure

_LIBRARY_LOGGERS = ("pypdf", "docx", "trafilatura", "htmldate", "courlan", "justext", "readability")


class _Silencer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._levels: dict[str, int] = {}
        self._filters: warnings.catch_warnings[None] | None = None

    def enter(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return
            self._filters = warnings.catch_warnings()
            self._filters.__enter__()
            warnings.simplefilter("ignore")
            for name in _LIBRARY_LOGGERS:
                logger = logging.getLogger(name)
                self._levels[name] = logger.level
                logger.setLevel(logging.CRITICAL + 1)

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0:
                return
            for name, level in self._levels.items():
                logging.getLogger(name).setLevel(level)
            if self._filters is not None:
                self._filters.__exit__(None, None, None)
                self._filters = None


_SILENCER = _Silencer()


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Run the block with library warnings ignored and library loggers muted."""
    _SILENCER.enter()
    try:
        yield
    finally:
        _SILENCER.exit()


@contextlib.contextmanager
def failing_as(code: ErrorCode, message: str) -> Iterator[None]:
    """Whatever a parsing library raises inside the block becomes ParseFailure(code, message).

    pypdf, python-docx and lxml raise assorted types on malformed input (PdfReadError, KeyError,
    ValueError, XMLSyntaxError, BadZipFile...) and document none of them, so the adapters name
    the failure, not the exception. MemoryError passes through: the parse process reports it.
    """
    try:
        yield
    except (ParseFailure, MemoryError):
        raise
    except Exception as exc:  # undocumented library failures; see above
        raise ParseFailure(code, message) from exc
