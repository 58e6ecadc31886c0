"""A token bucket per key (a client address): `burst` attempts at once, then `per_minute`.
Per replica and in memory: behind N replicas a source gets N times the rate, which still makes
guessing a 256-bit secret pointless; the limit is there to keep floods out of the audit trail
and the database. Pure: the caller passes the time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RateLimiter:
    burst: float
    per_minute: float
    max_keys: int = 10_000  # past this many sources, the longest idle are forgotten
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def admit(self, key: str, now: float) -> bool:
        """Take one token for `key` if it has one."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.per_minute / 60.0)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)  # re-inserted: the dict is ordered by last use
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return admitted
