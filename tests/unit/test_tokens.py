from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docent.auth.tokens import (
    AccessTokenCodec,
    hash_secret,
    looks_like_api_key,
    new_api_key,
    new_refresh_token,
)
from docent.errors import DocentError, ErrorCode

KEY = "unit-test-signing-key-with-enough-entropy-1234"


def _codec(minutes: int = 15) -> AccessTokenCodec:
    return AccessTokenCodec(KEY, timedelta(minutes=minutes))


def test_access_token_round_trip() -> None:
    user, org, family = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    claims = _codec().decode(_codec().issue(user, org, family, 3, now))
    assert (claims.user_id, claims.org_id, claims.family_id, claims.sequence) == (user, org, family, 3)
    assert abs((claims.expires_at - now) - timedelta(minutes=15)) < timedelta(seconds=2)


def test_expired_tokens_are_refused_with_their_own_code() -> None:
    token = _codec().issue(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 0, datetime.now(UTC) - timedelta(hours=1)
    )
    with pytest.raises(DocentError) as error:
        _codec().decode(token)
    assert error.value.code is ErrorCode.TOKEN_EXPIRED


def test_a_token_signed_with_another_key_is_invalid() -> None:
    other = AccessTokenCodec("another-signing-key-entirely-different-5678", timedelta(minutes=15))
    token = other.issue(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 0, datetime.now(UTC))
    with pytest.raises(DocentError) as error:
        _codec().decode(token)
    assert error.value.code is ErrorCode.INVALID_TOKEN


@given(st.text(max_size=300))
def test_garbage_is_always_an_invalid_token(garbage: str) -> None:
    with pytest.raises(DocentError) as error:
        _codec().decode(garbage)
    assert error.value.code is ErrorCode.INVALID_TOKEN


def test_api_keys_and_refresh_tokens_are_distinct_random_secrets() -> None:
    keys = {new_api_key().secret for _ in range(50)}
    assert len(keys) == 50
    key = new_api_key()
    assert key.secret.startswith(key.prefix)
    assert looks_like_api_key(key.secret)
    assert key.key_hash == hash_secret(key.secret)
    assert key.secret not in key.key_hash
    refresh = new_refresh_token()
    assert not looks_like_api_key(refresh)
    assert len(refresh) > 40
