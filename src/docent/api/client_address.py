"""The client's address: the peer's, or with DOCENT_TRUST_FORWARDED_FOR the one its proxies forwarded.

`X-Forwarded-For` is believed only from the proxies named in DOCENT_FORWARDED_ALLOW_IPS (addresses or
networks, `*` for any); anyone else could write any address in it and so escape a per-address limit.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from fastapi import Request

from docent.config import Settings

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _proxies(spec: str) -> tuple[_Network, ...] | None:
    """The trusted proxies; None stands for `*`. Entries that are not addresses are ignored."""
    networks: list[_Network] = []
    for entry in (part.strip() for part in spec.split(",")):
        if entry == "*":
            return None
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _trusted(address: str | None, proxies: tuple[_Network, ...] | None) -> bool:
    if proxies is None:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request: Request, settings: Settings) -> str | None:
    """The nearest address that is not one of our trusted proxies, walking `X-Forwarded-For` from the end
    (the proxy next to us appends last); the peer itself when it is not a trusted proxy."""
    peer = request.client.host if request.client else None
    if not settings.trust_forwarded_for:
        return peer
    proxies = _proxies(settings.forwarded_allow_ips)
    if not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
