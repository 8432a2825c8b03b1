"""The login throttle on both of its storages: memory (embedded) and a real Redis (scaled)."""

from __future__ import annotations

import uuid

import pytest
import redis

from docent.auth.throttle import LoginThrottle
from docent.errors import DocentError, ErrorCode

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # Redis must be running: CI starts it
        return REDIS_URL
    return "memory://"


def test_failures_per_account_are_limited(storage_uri: str) -> None:
    throttle = LoginThrottle(storage_uri, per_account=3, per_address=100, window_seconds=60)
    account = f"{uuid.uuid4()}@example.com"
    for _ in range(3):
        throttle.ensure_allowed(account, "10.0.0.1")
        throttle.record_failure(account, "10.0.0.1")
    with pytest.raises(DocentError) as error:
        throttle.ensure_allowed(account, "10.0.0.2")
    assert error.value.code is ErrorCode.TOO_MANY_ATTEMPTS
    assert 0 < int(error.value.headers["Retry-After"]) <= 60
    throttle.ensure_allowed(f"{uuid.uuid4()}@example.com", "10.0.0.1")


def test_failures_per_address_are_limited(storage_uri: str) -> None:
    throttle = LoginThrottle(storage_uri, per_account=100, per_address=4, window_seconds=60)
    address = f"addr-{uuid.uuid4()}"
    for i in range(4):
        throttle.record_failure(f"{i}-{uuid.uuid4()}@example.com", address)
    with pytest.raises(DocentError):
        throttle.ensure_allowed(f"{uuid.uuid4()}@example.com", address)


def test_success_clears_the_account_counter(storage_uri: str) -> None:
    throttle = LoginThrottle(storage_uri, per_account=2, per_address=100, window_seconds=60)
    account = f"{uuid.uuid4()}@example.com"
    throttle.record_failure(account, "a")
    throttle.record_success(account)
    throttle.record_failure(account, "a")
    throttle.ensure_allowed(account, "a")  # one failure since the success: allowed
    throttle.record_failure(account, "a")  # two: the counter restarted at the success, still counting
    with pytest.raises(DocentError) as error:
        throttle.ensure_allowed(account, "a")
    assert error.value.code is ErrorCode.TOO_MANY_ATTEMPTS


def test_two_processes_share_the_redis_counters() -> None:
    account = f"{uuid.uuid4()}@example.com"
    one = LoginThrottle(REDIS_URL, per_account=2, per_address=100, window_seconds=60)
    two = LoginThrottle(REDIS_URL, per_account=2, per_address=100, window_seconds=60)
    one.record_failure(account, "x")
    two.record_failure(account, "y")
    with pytest.raises(DocentError):
        one.ensure_allowed(account, "z")
