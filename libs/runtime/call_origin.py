"""Where a call comes from, read the same way by every server: its metadata, the peer's address,
the client's address behind trusted proxies, and the bearer token it presents."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import grpc

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, 127.0.0.1' -> networks; a bad entry is a start-up error."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in spec.split(",") if p.strip()
    )


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str, forwarded: str, trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
    address in x-forwarded-for that is not itself a trusted proxy (entries are appended by
    each proxy, so only those right of the first untrusted one can be believed)."""
    if not forwarded or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded.split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain proves nothing
        if not _trusted(hop, trusted):
            return hop
    return hops[0]


def peer_ip(peer: str) -> str:
    """'ipv4:127.0.0.1:5000' -> '127.0.0.1'; 'ipv6:[::1]:5000' -> '::1'."""
    family, _, rest = peer.partition(":")
    if family == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if family == "ipv4":
        return rest.rpartition(":")[0]
    return ""


def metadata_of(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def bearer_token(header: str) -> str | None:
    """The token of an `authorization: Bearer <token>` header, else None."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
