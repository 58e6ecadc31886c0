"""The trail's filter as it lives in the URL query (what the filter form submits with GET), and
its translation to the audit API's EventFilter. Lists are comma-separated or repeated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q

PRESETS = {
    "24h": q.TIME_PRESET_LAST_24_HOURS,
    "7d": q.TIME_PRESET_LAST_7_DAYS,
    "30d": q.TIME_PRESET_LAST_30_DAYS,
    "90d": q.TIME_PRESET_LAST_90_DAYS,
    "1y": q.TIME_PRESET_LAST_YEAR,
}
PRESET_LABELS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "1y": "Last year",
    "custom": "Custom range",
}
ACTIONS = [n.removeprefix("ACTION_") for n in ev.Action.keys() if n != "ACTION_UNSPECIFIED"]  # noqa: SIM118
PRINCIPAL_TYPES = ["USER", "SERVICE_ACCOUNT", "API_KEY", "SYSTEM"]
LIST_FIELDS: tuple[str, ...] = ("scope", "scope_only", "principal", "action", "resource_type")
LIST_FIELDS += ("resource_id", "module", "network")
MAX_TZ = 64


class FilterError(ValueError):
    """Input the form cannot turn into a filter; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def split_values(raw: Iterable[str]) -> list[str]:
    """Repeated parameters and comma-separated values, trimmed, without empties or repeats."""
    seen: dict[str, None] = {}
    for value in raw:
        for part in value.split(","):
            if part.strip():
                seen.setdefault(part.strip(), None)
    return list(seen)


@dataclass(frozen=True)
class TrailFilter:
    scope: list[str] = field(default_factory=list)  # with their child scopes
    scope_only: list[str] = field(default_factory=list)  # without them
    principal: list[str] = field(default_factory=list)  # "alice" or "SERVICE_ACCOUNT:ci"
    action: list[str] = field(default_factory=list)  # CREATE, UPDATE, ...
    resource_type: list[str] = field(default_factory=list)
    resource_id: list[str] = field(default_factory=list)
    module: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    text: str = ""
    no_login: bool = False
    no_system: bool = False
    range: str = "7d"  # a key of PRESETS, or "custom"
    start: str = ""  # datetime-local ("2026-11-29T10:00") in `tz`, for the custom range
    end: str = ""
    tz: str = "UTC"  # the browser's IANA time zone (the page's script fills it in)

    @classmethod
    def from_query(cls, query: Mapping[str, Sequence[str]]) -> TrailFilter:
        def one(name: str, default: str = "") -> str:
            values = query.get(name) or [default]
            return values[-1].strip()

        lists = {name: split_values(query.get(name, [])) for name in LIST_FIELDS}
        lists["action"] = [a.upper() for a in lists["action"]]
        chosen = one("range", "7d")
        return cls(
            **lists,
            text=one("text"),
            no_login=one("no_login") == "1",
            no_system=one("no_system") == "1",
            range=chosen if chosen in PRESET_LABELS else "7d",
            start=one("start"),
            end=one("end"),
            tz=one("tz", "UTC") or "UTC",
        )

    def to_query(self) -> list[tuple[str, str]]:
        """The canonical URL query: what from_query reads back to the same filter."""
        pairs = [(name, ",".join(getattr(self, name))) for name in LIST_FIELDS]
        pairs += [("text", self.text), ("range", self.range)]
        if self.range == "custom":  # the zone matters to a custom range only
            pairs += [("start", self.start), ("end", self.end), ("tz", self.tz)]
        pairs += [
            ("no_login", "1" if self.no_login else ""),
            ("no_system", "1" if self.no_system else ""),
        ]
        return [(k, v) for k, v in pairs if v and not (k == "range" and v == "7d")]

    def is_empty(self) -> bool:
        return not self.to_query()

    def with_default_scope(self, account: str) -> TrailFilter:
        if self.scope or self.scope_only:
            return self
        return replace(self, scope=[account])

    def to_proto(self) -> q.EventFilter:
        f = q.EventFilter(
            scopes=[q.ScopeFilter(scope=s) for s in self.scope]
            + [q.ScopeFilter(scope=s, exclude_child_scopes=True) for s in self.scope_only],
            principals=[principal_filter(p) for p in self.principal],
            actions=[action_value(a) for a in self.action],
            resource_types=self.resource_type,
            resource_identifiers=self.resource_id,
            modules=self.module,
            client_networks=self.network,
            text=self.text,
            exclude_login_events=self.no_login,
            exclude_system_events=self.no_system,
        )
        if self.range == "custom":
            zone = time_zone(self.tz)
            f.start.CopyFrom(timestamp("start", self.start, zone))
            f.end.CopyFrom(timestamp("end", self.end, zone))
        else:
            f.preset = PRESETS[self.range]
        return f

    @classmethod
    def from_proto(cls, f: q.EventFilter) -> TrailFilter:
        """A saved filter's EventFilter back as a URL filter (a custom range in UTC)."""
        by_preset = {v: k for k, v in PRESETS.items()}
        custom = f.HasField("start") or f.HasField("end")
        return cls(
            scope=[s.scope for s in f.scopes if not s.exclude_child_scopes],
            scope_only=[s.scope for s in f.scopes if s.exclude_child_scopes],
            principal=[principal_text(p) for p in f.principals],
            action=[ev.Action.Name(a).removeprefix("ACTION_") for a in f.actions],
            resource_type=list(f.resource_types),
            resource_id=list(f.resource_identifiers),
            module=list(f.modules),
            network=list(f.client_networks),
            text=f.text,
            no_login=f.exclude_login_events,
            no_system=f.exclude_system_events,
            range="custom" if custom else by_preset.get(f.preset, "7d"),
            start=local_text(f.start) if f.HasField("start") else "",
            end=local_text(f.end) if f.HasField("end") else "",
        )


def principal_filter(text: str) -> q.PrincipalFilter:
    kind, _, identifier = text.rpartition(":")
    if not kind:
        return q.PrincipalFilter(identifier=identifier)
    if kind.upper() not in PRINCIPAL_TYPES:
        raise FilterError(
            "principal", f"unknown principal type {kind!r} (use {', '.join(PRINCIPAL_TYPES)})"
        )
    return q.PrincipalFilter(
        type=ev.PrincipalType.Value(f"PRINCIPAL_TYPE_{kind.upper()}"), identifier=identifier
    )


def principal_text(p: q.PrincipalFilter) -> str:
    if not p.type:
        return p.identifier
    return f"{ev.PrincipalType.Name(p.type).removeprefix('PRINCIPAL_TYPE_')}:{p.identifier}"


def action_value(name: str) -> ev.Action.ValueType:
    if name not in ACTIONS:
        raise FilterError("action", f"unknown action {name!r}")
    return ev.Action.Value(f"ACTION_{name}")


def time_zone(name: str) -> ZoneInfo:
    try:
        if len(name) > MAX_TZ:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FilterError("tz", "unknown time zone") from exc


def timestamp(field_name: str, text: str, zone: ZoneInfo) -> Timestamp:
    if not text:
        raise FilterError(field_name, "a custom range needs a start and an end")
    try:
        local = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FilterError(field_name, "not a date and time (YYYY-MM-DDTHH:MM)") from exc
    moment = local.replace(tzinfo=zone) if local.tzinfo is None else local
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def local_text(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M")
