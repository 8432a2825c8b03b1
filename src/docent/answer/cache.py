"""The answer cache port and its two adapters: in this process (bounded LRU with expiry), or Redis, which
every server process shares.

The cache only stores and returns values under opaque keys; what a key covers (the question, the reader's
documents, the configuration) is decided in `docent.answer.recall`. A cache that fails is a cache that
misses: an answer never fails because its cache did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from cachetools import TLRUCache
from pydantic import TypeAdapter

from docent.answer.types import Answer, Citation, Usage
from docent.observability.logs import get_logger

if TYPE_CHECKING:
    from redis import Redis

_log = get_logger(__name__)

# A Redis that does not answer within this time counts as a miss (or a lost write), so a sick Redis
# slows each question by at most this much instead of hanging it.
REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class CachedAnswer:
    """A finished answer as remembered: what the reader saw, who produced it, and the standalone question
    it answered (kept with the asker's history)."""

    text: str
    citations: tuple[Citation, ...]
    provider: str
    model: str
    abstained: bool
    rewritten: str
    confidence: float | None = None  # absent from answers cached before it was kept

    @classmethod
    def of(cls, answer: Answer, rewritten: str) -> CachedAnswer:
        return cls(
            answer.text,
            answer.citations,
            answer.provider,
            answer.model,
            answer.abstained,
            rewritten,
            answer.confidence,
        )

    def as_answer(self) -> Answer:
        """The answer served again: no model ran, so no tokens were used and nothing was spent."""
        return Answer(
            self.text,
            self.citations,
            Usage(),
            self.provider,
            self.model,
            abstained=self.abstained,
            confidence=self.confidence,
            cost_usd=Decimal(0),
            cached=True,
        )

    def to_json(self) -> str:
        return _CACHED.dump_json(self).decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> CachedAnswer:
        """Raises ValueError when `data` is not a cached answer."""
        return _CACHED.validate_json(data)


_CACHED: TypeAdapter[CachedAnswer] = TypeAdapter(CachedAnswer)


class AnswerCache(Protocol):
    """Answers under opaque keys. `get` returns None for a key never stored, expired, evicted, or when the
    cache cannot be reached; `put` stores for `ttl_seconds` and never raises either."""

    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, value: CachedAnswer, ttl_seconds: int) -> None: ...

    def close(self) -> None: ...


class InProcessAnswerCache:
    """At most `max_entries` answers in this process, the least recently used evicted first; an entry past
    its time is never returned. Thread-safe. `clock` (seconds, monotonic) is for tests."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._lock = threading.Lock()
        # Each value carries its own time to live: (ttl_seconds, answer).
        self._entries: TLRUCache[str, tuple[int, CachedAnswer]] = TLRUCache(
            max_entries, ttu=lambda _key, value, now: now + value[0], timer=clock
        )

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def put(self, key: str, value: CachedAnswer, ttl_seconds: int) -> None:
        with self._lock:
            self._entries[key] = (ttl_seconds, value)

    def held(self) -> int:
        """How many unexpired entries are held now. Not `__len__`: an empty cache must not be falsy where
        the code asks whether there is a cache at all."""
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisAnswerCache:
    """Answers as JSON strings in Redis under `<namespace>:<key>`, each with its expiry (`SET … EX`), so
    every process of a deployment shares them and Redis evicts them by itself. Any Redis failure (down,
    slow, a value that is not an answer) is logged and counts as a miss."""

    def __init__(self, client: Redis, namespace: str) -> None:
        from redis import RedisError

        self._client = client
        self._prefix = f"{namespace}:"
        self._failures: tuple[type[Exception], ...] = (RedisError, OSError)

    @classmethod
    def from_url(cls, url: str, namespace: str) -> RedisAnswerCache:
        from redis import Redis

        client = Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        return cls(client, namespace)

    @property
    def prefix(self) -> str:
        return self._prefix

    def get(self, key: str) -> CachedAnswer | None:
        try:
            data = self._client.get(self._prefix + key)
        except self._failures as exc:
            _log.warning("answer_cache_unavailable", operation="get", error=type(exc).__name__)
            return None
        if data is None:
            return None
        try:
            return CachedAnswer.from_json(data)
        except ValueError:  # pydantic's ValidationError is one
            _log.warning("answer_cache_unreadable", key=key)
            return None

    def put(self, key: str, value: CachedAnswer, ttl_seconds: int) -> None:
        try:
            self._client.set(self._prefix + key, value.to_json(), ex=ttl_seconds)
        except self._failures as exc:
            _log.warning("answer_cache_unavailable", operation="put", error=type(exc).__name__)

    def close(self) -> None:
        self._client.close()
