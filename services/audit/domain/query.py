"""Event queries without I/O: the filter as a value and its checks. The SQL it becomes is the
store's (services/audit/store/event_queries.py)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.domain.errors import InvalidArgument

PRESETS = {
    "LAST_24_HOURS": timedelta(hours=24),
    "LAST_7_DAYS": timedelta(days=7),
    "LAST_30_DAYS": timedelta(days=30),
    "LAST_90_DAYS": timedelta(days=90),
    "LAST_YEAR": timedelta(days=365),
}
DEFAULT_PRESET = "LAST_7_DAYS"
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000


@dataclass(frozen=True)
class ScopeSelector:
    path: str  # "acct", "acct/org" or "acct/org/proj"
    include_children: bool = True

    @property
    def parts(self) -> list[str]:
        return self.path.split("/")


@dataclass(frozen=True)
class EventQuery:
    start: datetime
    end: datetime
    scopes: tuple[ScopeSelector, ...]
    principals: tuple[tuple[str, str], ...] = ()  # (type or "", identifier)
    actions: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    resource_ids: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    exclude_login: bool = False
    exclude_system: bool = False
    networks: tuple[str, ...] = ()  # normalized CIDR
    text: str = ""


# The filter fields that shape a query's plan, in the order a shape names them.
SHAPE_FIELDS = (
    "principals", "actions", "resource_types", "resource_ids", "modules", "networks", "text",
)  # fmt: skip


def shape_of(q: EventQuery) -> str:
    """A bounded name for what a query filters on, for metrics: `scope` (scopes and time only),
    the one field it adds (`principals`, `text`, ...), or `combined` for several."""
    present = [name for name in SHAPE_FIELDS if getattr(q, name)]
    if not present:
        return "scope"
    return present[0] if len(present) == 1 else "combined"


def time_range(
    start: datetime | None, end: datetime | None, preset: str, now: datetime, retention_days: int
) -> tuple[datetime, datetime]:
    """A half-open [start, end) from explicit bounds or a preset (default: the last 7 days)."""
    if (start is None) != (end is None):
        raise InvalidArgument("filter.start", "give both start and end, or neither")
    if start is not None and end is not None:
        if preset:
            raise InvalidArgument("filter.preset", "give a preset or start and end, not both")
        if end <= start:
            raise InvalidArgument("filter.end", "the range is empty or inverted")
    else:
        span = PRESETS.get(preset or DEFAULT_PRESET)
        if span is None:
            raise InvalidArgument("filter.preset", f"unknown preset {preset!r}")
        start, end = now - span, now
    if end - start > timedelta(days=retention_days):
        raise InvalidArgument(
            "filter.start", f"the range is longer than the retention ({retention_days} days)"
        )
    return start, end


def network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise InvalidArgument(
            "filter.client_networks", f"{value!r} is not an IP address or CIDR"
        ) from None


def page_size(value: int) -> int:
    if value < 0 or value > PAGE_SIZE_MAX:
        raise InvalidArgument("page_size", f"must be between 0 and {PAGE_SIZE_MAX}")
    return value or PAGE_SIZE_DEFAULT
