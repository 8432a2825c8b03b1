"""Slows down password guessing: failed logins per account and per client address, in a moving window.

The counters live in memory in the embedded profile and in Redis when `DOCENT_REDIS_URL` is set,
so every worker process shares them.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from docent.errors import DocentError, ErrorCode


class LoginThrottle:
    def __init__(self, storage_uri: str, *, per_account: int, per_address: int, window_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._account_limit = RateLimitItemPerSecond(per_account, window_seconds)
        self._address_limit = RateLimitItemPerSecond(per_address, window_seconds)

    def ensure_allowed(self, account: str, address: str) -> None:
        """Raise 429 with a Retry-After when either counter is spent."""
        for limit, key in ((self._account_limit, account), (self._address_limit, address)):
            if not self._limiter.test(limit, "login-failures", key):
                reset_at = self._limiter.get_window_stats(limit, "login-failures", key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise DocentError(
                    ErrorCode.TOO_MANY_ATTEMPTS,
                    details={"retry_after_seconds": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )

    def record_failure(self, account: str, address: str) -> None:
        self._limiter.hit(self._account_limit, "login-failures", account)
        self._limiter.hit(self._address_limit, "login-failures", address)

    def record_success(self, account: str) -> None:
        self._limiter.clear(self._account_limit, "login-failures", account)
