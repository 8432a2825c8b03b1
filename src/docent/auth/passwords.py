"""Password hashing with argon2 (pwdlib)."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256  # argon2 hashes any length; the bound keeps one request from costing too much


class PasswordHasher:
    """argon2id with pwdlib's parameters (64 MiB, 3 passes, 4 lanes) unless told otherwise: tests pass cheap
    ones, so that each of their logins does not cost a production hash. A stored hash made with other
    parameters still verifies, and is re-hashed with these at the next login."""

    def __init__(self, *, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 4) -> None:
        argon2 = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism)
        self._hash = PasswordHash((argon2,))
        # Verified against when the account does not exist, so a miss costs as long as a wrong password.
        self._dummy_hash = self._hash.hash("docent-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one uses outdated parameters."""
        if password_hash is None:
            self._hash.verify(password, self._dummy_hash)
            return False, None
        return self._hash.verify_and_update(password, password_hash)
