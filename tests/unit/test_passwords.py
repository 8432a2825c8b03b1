"""The password hasher: production's argon2id parameters by default, cheaper ones only when asked."""

from __future__ import annotations

from docent.auth.passwords import PasswordHasher
from tests.conftest import TEST_HASHER

PASSWORD = "Corr3ct-Horse-Battery"


def test_the_default_parameters_are_productions() -> None:
    stored = PasswordHasher().hash(PASSWORD)

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_given_parameters_are_used_and_a_hash_made_with_others_is_renewed_at_login() -> None:
    cheap = TEST_HASHER.hash(PASSWORD)
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert TEST_HASHER.verify(PASSWORD, cheap) == (True, None)
    assert TEST_HASHER.verify("wrong password!", cheap) == (False, None)

    valid, renewed = PasswordHasher().verify(PASSWORD, cheap)

    assert valid and renewed is not None and renewed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
