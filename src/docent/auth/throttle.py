"""Slows down password guessing without letting a guesser lock the owner out.

Failed logins are counted in a moving window per account *and* address together (a guesser who knows an
email spends only their own allowance, never the owner's) and per address (one machine trying many
accounts). Failures on one account from every address together do not refuse anyone: past the per-account
allowance each further attempt on that account waits a little longer, doubling up to `max_delay_seconds`,
so a spread-out guess runs slowly while the owner still gets in.

The counters live in memory in the embedded profile and in Redis when `DOCENT_REDIS_URL` is set, so every
server process shares them and a restart does not reset them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from docent.errors import DocentError, ErrorCode

_ACCOUNT_WIDE_FACTOR = 50  # the account-wide counter only measures; it never refuses
_FIRST_DELAY_SECONDS = 0.25


class LoginThrottle:
    def __init__(
        self,
        storage_uri: str,
        *,
        per_account: int,
        per_address: int,
        window_seconds: int,
        namespace: str = "docent",
        max_delay_seconds: float = 4.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._pair_limit = RateLimitItemPerSecond(per_account, window_seconds)
        self._address_limit = RateLimitItemPerSecond(per_address, window_seconds)
        self._account_wide = RateLimitItemPerSecond(per_account * _ACCOUNT_WIDE_FACTOR, window_seconds)
        self._per_account = per_account
        self._namespace = f"login-failures:{namespace}"
        self._max_delay = max_delay_seconds
        self._sleep = sleep

    def ensure_allowed(self, account: str, address: str) -> None:
        """Raise 429 with a Retry-After when this address has spent its allowance (for this account, or for
        all accounts); otherwise wait as long as the account's failures from everywhere call for."""
        for limit, key in (
            (self._pair_limit, f"pair:{account}|{address}"),
            (self._address_limit, f"address:{address}"),
        ):
            if not self._limiter.test(limit, self._namespace, key):
                reset_at = self._limiter.get_window_stats(limit, self._namespace, key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise DocentError(
                    ErrorCode.TOO_MANY_ATTEMPTS,
                    details={"retry_after_seconds": retry_after},
                    headers={"Retry-After": str(retry_after)},
                )
        delay = self.delay_for(account)
        if delay > 0:
            self._sleep(delay)

    def delay_for(self, account: str) -> float:
        """Seconds to wait before judging a password for `account`: none within the allowance, then doubling
        with each failure beyond it, at most `max_delay_seconds`."""
        failures = self._count(self._account_wide, f"account:{account}")
        excess = failures - self._per_account
        if excess < 0:
            return 0.0
        doubled: float = _FIRST_DELAY_SECONDS * 2.0 ** min(excess, 32)
        return min(self._max_delay, doubled)

    def record_failure(self, account: str, address: str) -> None:
        self._limiter.hit(self._pair_limit, self._namespace, f"pair:{account}|{address}")
        self._limiter.hit(self._address_limit, self._namespace, f"address:{address}")
        self._limiter.hit(self._account_wide, self._namespace, f"account:{account}")

    def record_success(self, account: str, address: str) -> None:
        """The owner got in from here: this address's failures on the account are forgiven."""
        self._limiter.clear(self._pair_limit, self._namespace, f"pair:{account}|{address}")

    def _count(self, item: RateLimitItem, key: str) -> int:
        stats = self._limiter.get_window_stats(item, self._namespace, key)
        return item.amount - stats.remaining
