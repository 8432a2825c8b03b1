"""Which addresses a URL fetch may connect to: the SSRF guard's rule (`docent.ingest.fetch` applies it to
every resolved address of every hop)."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused even when private addresses are allowed: a self-hosted install on a cloud VM that
# may fetch from its intranet must still never hand out the instance's credentials.
_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean; ECS task credentials
        "168.63.129.16/32",  # Azure WireServer and host agent: a public-looking address
        "100.100.100.200/32",  # Alibaba Cloud, inside the carrier-grade NAT range
        "192.0.0.192/32",  # Oracle Cloud (classic)
        "fd00:ec2::254/128",  # AWS over IPv6, inside fc00::/7
    )
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal"})
# IANA special-purpose blocks that some Python versions still call global.
_NOT_GLOBAL_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("192.0.0.0/24", "198.18.0.0/15", "0.0.0.0/8", "240.0.0.0/4")
)
# What `allow_private_addresses` opens up (besides loopback): the ranges an intranet lives in.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def is_forbidden_address(address: IPAddress, *, allow_private_addresses: bool = False) -> bool:
    """Whether a fetch may not connect to `address`.

    Everything that is not globally routable unicast is forbidden. `allow_private_addresses`
    opens loopback and the private ranges only; link-local, multicast, reserved and the cloud
    metadata addresses stay closed.
    """
    target = _embedded_ipv4(address)
    if _in_any(target, _METADATA_NETWORKS):
        return True
    if allow_private_addresses and (target.is_loopback or _in_any(target, _PRIVATE_NETWORKS)):
        return False
    return (
        not target.is_global
        or _in_any(target, _NOT_GLOBAL_NETWORKS)
        or target.is_private
        or target.is_loopback
        or target.is_link_local
        or target.is_multicast
        or target.is_reserved
        or target.is_unspecified
        or (isinstance(target, ipaddress.IPv6Address) and target.is_site_local)
    )


def _in_any(address: IPAddress, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for, if any, since that is where packets end up."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address
