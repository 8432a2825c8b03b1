"""X-Forwarded-For is believed only when DOCENT_TRUST_FORWARDED_FOR is set, and only from the proxies named
in DOCENT_FORWARDED_ALLOW_IPS: otherwise anyone could pick the address a per-address limit counts."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from docent.api.client_address import client_address
from docent.config import Settings


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_forwarded_for_is_ignored_unless_trusted() -> None:
    assert client_address(_request("127.0.0.1", "6.6.6.6"), _settings()) == "127.0.0.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    settings = _settings(trust_forwarded_for=True, forwarded_allow_ips="10.0.0.5")
    assert client_address(_request("203.0.113.9", "6.6.6.6"), settings) == "203.0.113.9"


@pytest.mark.parametrize(
    ("allowed", "peer", "forwarded", "client"),
    [
        ("10.0.0.5", "10.0.0.5", ["198.51.100.7"], "198.51.100.7"),
        # A forged first hop is skipped: the nearest address not a trusted proxy is the client.
        ("10.0.0.5", "10.0.0.5", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
        ("10.0.0.0/24", "10.0.0.5", ["6.6.6.6", "198.51.100.7, 10.0.0.9"], "198.51.100.7"),
        ("*", "10.0.0.5", ["198.51.100.7, 10.0.0.9"], "198.51.100.7"),
        ("10.0.0.5", "10.0.0.5", [], "10.0.0.5"),
    ],
)
def test_forwarded_for_from_a_trusted_proxy(
    allowed: str, peer: str, forwarded: list[str], client: str
) -> None:
    settings = _settings(trust_forwarded_for=True, forwarded_allow_ips=allowed)
    assert client_address(_request(peer, *forwarded), settings) == client
