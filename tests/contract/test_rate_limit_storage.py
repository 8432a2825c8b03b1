"""Rate counters and stream slots on both storages: this process's memory, and a real Redis at
127.0.0.1:6379, where two processes (here two instances) share them."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from docent.auth.rate_limits import MemorySlots, RateLimitKind, RateLimits, RedisSlots, StreamSlots
from docent.errors import DocentError, ErrorCode

REDIS_URL = "redis://127.0.0.1:6379/15"
RULES = {RateLimitKind.SEARCH: "2/hour", RateLimitKind.CHAT: "1/hour;5/day"}


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # Redis must be running: CI starts it
        return REDIS_URL
    return "memory://"


def test_a_spent_limit_raises_429_with_retry_after(storage_uri: str) -> None:
    limits = RateLimits(storage_uri, RULES, namespace=uuid.uuid4().hex)
    assert limits.hit(RateLimitKind.SEARCH, "user:a").remaining == 1
    assert limits.hit(RateLimitKind.SEARCH, "user:a").remaining == 0
    with pytest.raises(DocentError) as refused:
        limits.hit(RateLimitKind.SEARCH, "user:a")
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert 0 < int(refused.value.headers["Retry-After"]) <= 3600
    assert refused.value.headers["RateLimit-Limit"] == "2"
    assert limits.hit(RateLimitKind.SEARCH, "user:b").remaining == 1  # another subject
    assert limits.hit(RateLimitKind.CHAT, "user:a").limit == 1  # another kind; the tightest of two rules


def test_namespaces_keep_installations_apart(storage_uri: str) -> None:
    one = RateLimits(storage_uri, RULES, namespace=uuid.uuid4().hex)
    two = RateLimits(storage_uri, RULES, namespace=uuid.uuid4().hex)
    one.hit(RateLimitKind.CHAT, "user:a")
    assert two.hit(RateLimitKind.CHAT, "user:a").remaining == 0  # its own first hit


def test_two_processes_share_the_counters_in_redis() -> None:
    namespace = uuid.uuid4().hex
    one = RateLimits(REDIS_URL, RULES, namespace=namespace)
    two = RateLimits(REDIS_URL, RULES, namespace=namespace)
    one.hit(RateLimitKind.SEARCH, "user:a")
    two.hit(RateLimitKind.SEARCH, "user:a")
    with pytest.raises(DocentError):
        one.hit(RateLimitKind.SEARCH, "user:a")


@pytest.fixture(params=["memory", "redis"])
def slot_store(request: pytest.FixtureRequest) -> MemorySlots | RedisSlots:
    if request.param == "redis":
        return RedisSlots(REDIS_URL, f"docent-test:{uuid.uuid4().hex}:")
    return MemorySlots()


def test_stream_slots_are_capped_and_given_back(slot_store: MemorySlots | RedisSlots) -> None:
    slots = StreamSlots(slot_store, 2)
    first, second = slots.take("u"), slots.take("u")
    with pytest.raises(DocentError) as refused:
        slots.take("u")
    assert refused.value.code is ErrorCode.TOO_MANY_STREAMS
    slots.take("v")  # another user
    first()
    first()  # giving back twice frees one slot only
    third = slots.take("u")
    with pytest.raises(DocentError):
        slots.take("u")
    second()
    third()


def test_a_slot_never_given_back_expires(slot_store: MemorySlots | RedisSlots) -> None:
    slots = StreamSlots(slot_store, 1, slot_seconds=0.05)
    slots.take("u")  # its process died mid-stream
    time.sleep(0.1)
    slots.take("u")
