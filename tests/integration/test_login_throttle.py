"""The login throttle on both of its storages: memory (embedded) and a real Redis (scaled). A guesser is
refused per account and address together, slowed per account, never able to lock the owner out."""

from __future__ import annotations

import uuid

import pytest
import redis

from docent.auth.throttle import LoginThrottle
from docent.errors import DocentError, ErrorCode

REDIS_URL = "redis://127.0.0.1:6379/15"
NAMESPACE = uuid.uuid4().hex  # this run's keys only


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()  # Redis must be running: CI starts it
        return REDIS_URL
    return "memory://"


def _throttle(storage_uri: str, slept: list[float] | None = None, **limits: int) -> LoginThrottle:
    values = {"per_account": 100, "per_address": 100, "window_seconds": 60, **limits}
    record = slept.append if slept is not None else (lambda _: None)
    return LoginThrottle(storage_uri, namespace=NAMESPACE, sleep=record, **values)


def test_failures_on_an_account_from_one_address_refuse_that_address_only(storage_uri: str) -> None:
    slept: list[float] = []
    throttle = _throttle(storage_uri, slept, per_account=3)
    account = f"{uuid.uuid4()}@example.com"
    for _ in range(3):
        throttle.ensure_allowed(account, "10.0.0.1")
        throttle.record_failure(account, "10.0.0.1")
    with pytest.raises(DocentError) as error:
        throttle.ensure_allowed(account, "10.0.0.1")
    assert error.value.code is ErrorCode.TOO_MANY_ATTEMPTS
    assert 0 < int(error.value.headers["Retry-After"]) <= 60
    # The owner, elsewhere, is not locked out: only slowed, because the account as a whole is under attack.
    assert slept == []
    throttle.ensure_allowed(account, "10.0.0.2")
    assert slept == [0.25]
    throttle.ensure_allowed(f"{uuid.uuid4()}@example.com", "10.0.0.1")


def test_spread_out_guessing_is_slowed_more_and_more_never_refused(storage_uri: str) -> None:
    slept: list[float] = []
    throttle = _throttle(storage_uri, slept, per_account=2)
    account = f"{uuid.uuid4()}@example.com"
    for i in range(8):
        address = f"10.1.0.{i}"  # a botnet: each address fails once
        throttle.ensure_allowed(account, address)
        throttle.record_failure(account, address)
    assert slept == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    throttle.ensure_allowed(account, "192.0.2.1")  # the owner gets in, after the longest wait
    assert slept[-1] == 4.0


def test_failures_per_address_are_limited(storage_uri: str) -> None:
    throttle = _throttle(storage_uri, per_address=4)
    address = f"addr-{uuid.uuid4()}"
    for i in range(4):
        throttle.record_failure(f"{i}-{uuid.uuid4()}@example.com", address)
    with pytest.raises(DocentError):
        throttle.ensure_allowed(f"{uuid.uuid4()}@example.com", address)


def test_success_clears_the_counter_of_that_address(storage_uri: str) -> None:
    throttle = _throttle(storage_uri, per_account=2)
    account = f"{uuid.uuid4()}@example.com"
    throttle.record_failure(account, "a")
    throttle.record_success(account, "a")
    throttle.record_failure(account, "a")
    throttle.ensure_allowed(account, "a")  # one failure since the success: allowed
    throttle.record_failure(account, "a")  # two: the counter restarted at the success, still counting
    with pytest.raises(DocentError) as error:
        throttle.ensure_allowed(account, "a")
    assert error.value.code is ErrorCode.TOO_MANY_ATTEMPTS


def test_redis_counters_are_shared_and_outlive_a_restart() -> None:
    account = f"{uuid.uuid4()}@example.com"
    one = _throttle(REDIS_URL, per_account=2)
    two = _throttle(REDIS_URL, per_account=2)
    one.record_failure(account, "x")
    two.record_failure(account, "x")
    with pytest.raises(DocentError):
        one.ensure_allowed(account, "x")
    del one, two
    restarted = _throttle(REDIS_URL, per_account=2)
    with pytest.raises(DocentError):
        restarted.ensure_allowed(account, "x")
