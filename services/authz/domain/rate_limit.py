"""A token bucket per key (a client address): `burst` attempts at once, then `per_minute`.
Per replica and in memory: behind N replicas a source gets N times the rate, which still makes
guessing a 256-bit secret pointless; the limit is there to keep floods out of the audit trail
and the database. Pure: the caller passes the time."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


def source_of(address: str) -> str:
    """The source a client address counts for: an IPv6 address's /64 (a client commonly holds
    a whole one: a bucket per address would not limit it), an IPv4 address (also one mapped
    into IPv6) itself, anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass
class RateLimiter:
    burst: float
    per_minute: float
    max_keys: int = 10_000  # past this many sources, the longest idle are forgotten
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def admit(self, key: str, now: float) -> bool:
        """Take one token for `key`'s source if it has one."""
        key = source_of(key)
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.per_minute / 60.0)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)  # re-inserted: the dict is ordered by last use
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return admitted
