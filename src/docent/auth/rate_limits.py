"""How often a caller may ask for expensive work: request rates per user or API key, a per-address ceiling
for requests that carry no valid credential, and concurrent answer streams per user.

Rates are counted by the `limits` library in a moving window, in this process's memory (embedded profile)
or in Redis when `DOCENT_REDIS_URL` is set, so that every server process shares the counters. Streams are
counted in the same store (`StreamSlots`); a slot that is never given back (a process killed mid-stream)
expires after `stream_slot_seconds`.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from docent.auth.policy import Principal
from docent.errors import DocentError, ErrorCode


class RateLimitKind(StrEnum):
    SEARCH = "search"  # search, embeddings, model listing
    CHAT = "chat"  # answers, streamed or not, on /api/v1/chat and /v1/chat/completions
    UPLOAD = "upload"  # uploads, new versions, URL imports, reprocessing
    ANONYMOUS = "anonymous"  # per address: logins, refreshes, requests without a valid credential


def parse_rule(text: str) -> list[RateLimitItem]:
    """`60/minute`, or several separated by `;` (`10/second;300/hour`). Raises ValueError otherwise."""
    items = parse_many(text) if text.strip() else []
    if not items:
        raise ValueError(f"{text!r} is not a rate such as 60/minute")
    return items


@dataclass(frozen=True)
class Quota:
    """What is left of the tightest limit on one counter: the `RateLimit-*` headers' values."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimits:
    """`hit(kind, subject)` counts one request of `subject` (`user:<id>`, `key:<id>`, `address:<ip>`)."""

    def __init__(
        self, storage_uri: str, rules: Mapping[RateLimitKind, str], *, namespace: str = "docent"
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._rules = {kind: parse_rule(text) for kind, text in rules.items()}
        self._namespace = namespace

    def hit(self, kind: RateLimitKind, subject: str) -> Quota:
        """Count the request and return what is left; raise 429 `rate_limited` (with `Retry-After` and the
        `RateLimit-*` headers) when a limit is spent, counting nothing then."""
        ids = (self._namespace, kind.value, subject)
        quotas = []
        for item in self._rules[kind]:
            allowed = self._limiter.hit(item, *ids)
            quota = self._quota(item, ids)
            if not allowed:
                retry_after = max(1, quota.reset_seconds)
                raise DocentError(
                    ErrorCode.RATE_LIMITED,
                    f"Too many {kind.value} requests: at most {item}. Try again in {retry_after} s.",
                    details={"retry_after_seconds": retry_after, "limit": str(item)},
                    headers={"Retry-After": str(retry_after), **quota.headers()},
                )
            quotas.append(quota)
        return min(quotas, key=lambda q: (q.remaining, -q.reset_seconds))

    def _quota(self, item: RateLimitItem, ids: tuple[str, ...]) -> Quota:
        stats = self._limiter.get_window_stats(item, *ids)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Quota(item.amount, max(0, stats.remaining), reset)


# ---------- concurrent streams ----------


class SlotStore(Protocol):
    """Counts held slots per key. `take` adds `token` unless `limit` are held (returns whether it did);
    slots older than `ttl` seconds no longer count."""

    def take(self, key: str, token: str, limit: int, ttl: float) -> bool: ...

    def give_back(self, key: str, token: str) -> None: ...


class MemorySlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, dict[str, float]] = {}

    def take(self, key: str, token: str, limit: int, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            held = {t: at for t, at in self._held.get(key, {}).items() if at > now - ttl}
            if len(held) >= limit:
                self._held[key] = held
                return False
            held[token] = now
            self._held[key] = held
            return True

    def give_back(self, key: str, token: str) -> None:
        with self._lock:
            held = self._held.get(key)
            if held is not None:
                held.pop(token, None)
                if not held:
                    del self._held[key]


class RedisSlots:
    """A sorted set per key, scored by when each slot was taken; one Lua script makes `take` atomic."""

    _TAKE = """
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[3])
    if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
    redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])))
    return 1
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(url)
        self._take = self._client.register_script(self._TAKE)
        self._prefix = prefix

    def take(self, key: str, token: str, limit: int, ttl: float) -> bool:
        return bool(self._take(keys=[self._prefix + key], args=[time.time(), limit, ttl, token]))

    def give_back(self, key: str, token: str) -> None:
        self._client.zrem(self._prefix + key, token)


class StreamSlots:
    """At most `per_user` answer streams open at once per user (`subject`)."""

    def __init__(self, store: SlotStore, per_user: int, *, slot_seconds: float = 900.0) -> None:
        self._store = store
        self._per_user = per_user
        self._slot_seconds = slot_seconds

    @classmethod
    def build(cls, redis_url: str | None, per_user: int, namespace: str) -> StreamSlots:
        store: SlotStore = (
            RedisSlots(redis_url, f"docent:{namespace}:streams:") if redis_url else MemorySlots()
        )
        return cls(store, per_user)

    def take(self, subject: str) -> Callable[[], None]:
        """Hold a slot for `subject`; the returned function gives it back (once). Raises 429
        `too_many_streams` when all are held."""
        token = uuid.uuid4().hex
        if not self._store.take(subject, token, self._per_user, self._slot_seconds):
            raise DocentError(
                ErrorCode.TOO_MANY_STREAMS,
                f"At most {self._per_user} answers may stream at once; wait for one to finish.",
                headers={"Retry-After": "5"},
            )
        given_back = threading.Event()

        def give_back() -> None:
            if not given_back.is_set():
                given_back.set()
                self._store.give_back(subject, token)

        return give_back


def subject_of(principal: Principal) -> str:
    """Whose counter a request counts on: its API key's, else its user's."""
    if principal.api_key_id is not None:
        return f"key:{principal.api_key_id}"
    return f"user:{principal.user_id}"
