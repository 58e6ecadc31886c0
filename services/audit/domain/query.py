"""Event queries without I/O: the filter, its checks, and the SQL it becomes (keyset pages,
newest first)."""

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


class _Sql:
    """Collects a WHERE clause and its numbered parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[object] = []

    def p(self, value: object) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _scope_clause(sql: _Sql, s: ScopeSelector) -> str:
    names = ("account", "organization", "project")
    parts = [f"{names[i]} = {sql.p(v)}" for i, v in enumerate(s.parts)]
    if not s.include_children and len(s.parts) < 3:
        parts.append(f"{names[len(s.parts)]} = ''")
    return "(" + " AND ".join(parts) + ")"


def where(q: EventQuery, after: tuple[datetime, str] | None = None) -> tuple[str, list[object]]:
    """The WHERE clause (and parameters) of a query, continuing after a (time, event id) key."""
    sql = _Sql()
    sql.add(f"occurred_at >= {sql.p(q.start)} AND occurred_at < {sql.p(q.end)}")
    sql.add("(" + " OR ".join(_scope_clause(sql, s) for s in q.scopes) + ")")
    if q.principals:
        ors = []
        for kind, identifier in q.principals:
            clause = f"principal_id = {sql.p(identifier)}"
            ors.append(f"({clause} AND principal_type = {sql.p(kind)})" if kind else clause)
        sql.add("(" + " OR ".join(ors) + ")")
    for column, values in (
        ("action", q.actions),
        ("resource_type", q.resource_types),
        ("resource_id", q.resource_ids),
        ("module", q.modules),
    ):
        if values:
            sql.add(f"{column} = ANY({sql.p(list(values))}::text[])")
    if q.exclude_login:
        sql.add("action <> 'LOGIN'")
    if q.exclude_system:
        sql.add("principal_type <> 'SYSTEM'")
    if q.networks:
        sql.add(f"safe_inet(client_ip) <<= ANY({sql.p(list(q.networks))}::cidr[])")
    if q.text:
        pattern = sql.p(_like(q.text))
        sql.add(f"(resource_id ILIKE {pattern} OR principal_email ILIKE {pattern})")
    if after is not None:
        sql.add(f"(occurred_at, event_id) < ({sql.p(after[0])}, {sql.p(after[1])}::uuid)")
    return " AND ".join(sql.clauses), sql.params


def page_size(value: int) -> int:
    if value < 0 or value > PAGE_SIZE_MAX:
        raise InvalidArgument("page_size", f"must be between 0 and {PAGE_SIZE_MAX}")
    return value or PAGE_SIZE_DEFAULT
