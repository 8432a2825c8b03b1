"""The `AnswerCache` contract, on both adapters: in this process, and a real Redis at 127.0.0.1:6379 (each
test in its own namespace, cleaned up after). A Redis that cannot be reached is a miss, never an error."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from docent.answer.cache import AnswerCache, CachedAnswer, InProcessAnswerCache, RedisAnswerCache
from docent.answer.types import Citation

REDIS_URL = "redis://127.0.0.1:6379/15"


def answer(text: str = "Sixteen weeks [1].") -> CachedAnswer:
    citation = Citation(1, 7, uuid.uuid4(), "Leave", 1, None, (), "Sixteen weeks.", 0.5)
    return CachedAnswer(text, (citation,), "extractive", "all-MiniLM-L6-v2", False, "How long?")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"docent-test-{uuid.uuid4().hex[:8]}:answers"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["in_process", "redis"])
def cache(request: pytest.FixtureRequest, namespace: str) -> Iterator[AnswerCache]:
    made: AnswerCache
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # Redis must be running: CI starts it
        made = RedisAnswerCache.from_url(REDIS_URL, namespace)
    else:
        made = InProcessAnswerCache(100)
    yield made
    made.close()


def test_an_unknown_key_misses(cache: AnswerCache) -> None:
    assert cache.get("nothing-here") is None


def test_what_is_put_is_got_back_whole(cache: AnswerCache) -> None:
    value = answer()
    cache.put("k", value, 60)
    assert cache.get("k") == value
    assert cache.get("other") is None


def test_putting_again_replaces(cache: AnswerCache) -> None:
    cache.put("k", answer("first"), 60)
    cache.put("k", answer("second"), 60)
    got = cache.get("k")
    assert got is not None and got.text == "second"


def test_redis_keeps_entries_under_the_namespace_with_their_expiry(namespace: str) -> None:
    value = answer()
    cache = RedisAnswerCache.from_url(REDIS_URL, namespace)
    cache.put("k", value, 120)
    client = redis.Redis.from_url(REDIS_URL)
    assert [k.decode() for k in client.scan_iter(f"{namespace}:*")] == [f"{namespace}:k"]
    assert 0 < client.ttl(f"{namespace}:k") <= 120
    other = RedisAnswerCache.from_url(REDIS_URL, namespace)  # another process sharing the Redis
    assert other.get("k") == value
    assert RedisAnswerCache.from_url(REDIS_URL, namespace + "-other").get("k") is None
    client.close()
    cache.close()
    other.close()


def test_redis_entries_expire(namespace: str) -> None:
    cache = RedisAnswerCache.from_url(REDIS_URL, namespace)
    cache.put("k", answer(), 1)
    assert cache.get("k") is not None
    deadline = time.monotonic() + 10  # only stops a hang; Redis expires the key after about a second
    while cache.get("k") is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cache.get("k") is None
    cache.close()


def test_a_value_that_is_not_an_answer_is_a_miss(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.set(f"{namespace}:k", b"{not json", ex=60)
    client.set(f"{namespace}:j", b'{"text": "no citations"}', ex=60)
    cache = RedisAnswerCache.from_url(REDIS_URL, namespace)
    assert cache.get("k") is None and cache.get("j") is None
    client.close()
    cache.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the socket is closed


def test_a_redis_that_is_down_is_a_miss_and_a_lost_write() -> None:
    cache = RedisAnswerCache.from_url(f"redis://127.0.0.1:{_closed_port()}/0", "down")
    cache.put("k", answer(), 60)  # no exception
    assert cache.get("k") is None
    cache.close()
