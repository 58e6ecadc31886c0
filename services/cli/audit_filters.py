"""The filter options of the audit commands (search, tail, export, filters save), one per field
of the API's EventFilter, and the EventFilter they make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from services.cli.failures import usage
from services.cli.options import option
from services.cli.timespec import duration, stamp, time_range


class Preset(StrEnum):
    day = "24h"
    week = "7d"
    month = "30d"
    quarter = "90d"
    year = "1y"

    @property
    def wire(self) -> q.TimePreset.ValueType:
        names = {"24h": "LAST_24_HOURS", "7d": "LAST_7_DAYS", "30d": "LAST_30_DAYS",
                 "90d": "LAST_90_DAYS", "1y": "LAST_YEAR"}  # fmt: skip
        return q.TimePreset.Value(f"TIME_PRESET_{names[self.value]}")


def _many(name: str, flag: str, help: str) -> Any:
    return option(name, list[str] | None, None, flag, help=f"{help}; repeatable")


FILTER_OPTIONS = [
    option("since", str | None, None, "--since", help="events of the last 90s, 15m, 12h, 7d, 2w"),
    option("start", str | None, None, "--from", help="events from (ISO 8601, inclusive)"),
    option("end", str | None, None, "--to", help="events until (ISO 8601, exclusive)"),
    option("preset", Preset | None, None, "--preset", help="a named range (default: 7d)"),
    _many("user", "--user", "done by this user"),
    _many("service_account", "--service-account", "done by this service account"),
    _many("principal", "--principal", "done by this principal, of any type"),
    _many("action", "--action", "e.g. create, update, delete, add_member, access_denied"),
    _many("resource_type", "--type", "resource type, e.g. ROLE, USER_GROUP, ROLE_BINDING"),
    _many("resource_id", "--id", "resource identifier"),
    _many("module", "--module", "the emitting service, e.g. authz"),
    _many("scope", "--scope", "acct, acct/org or acct/org/proj (default: your account)"),
    option("exclude_child_scopes", bool, False, "--exclude-child-scopes",
           help="only the scopes named, not those below them"),
    option("exclude_login", bool, False, "--exclude-login", help="leave out LOGIN events"),
    option("exclude_system", bool, False, "--exclude-system",
           help="leave out events of the system principal"),
    _many("network", "--network", "client IP address or CIDR network"),
    option("text", str | None, None, "--text",
           help="substring of the resource identifier or principal e-mail"),
    option("saved", str | None, None, "--saved",
           help="start from this saved filter (name or id); options given override its fields"),
]  # fmt: skip


def action(name: str) -> ev.Action.ValueType:
    wire = name.strip().upper().replace("-", "_")
    wire = wire if wire.startswith("ACTION_") else f"ACTION_{wire}"
    if wire not in set(ev.Action.keys()) or wire == "ACTION_UNSPECIFIED":
        known = ", ".join(a[7:].lower() for a in ev.Action.keys()[1:])
        raise usage(f"--action: unknown action {name!r} (known: {known})")
    return ev.Action.Value(wire)


@dataclass(frozen=True)
class Filters:
    """The options as given; `message` makes the EventFilter at a moment."""

    values: dict[str, Any]

    @property
    def saved(self) -> str | None:
        value: str | None = self.values.get("saved")
        return value

    @property
    def scopes(self) -> list[str]:
        return list(self.values.get("scope") or [])

    def since_start(self, now: datetime) -> datetime | None:
        since = self.values.get("since")
        return now - duration(since, "--since") if since else None

    def message(self, account: str, now: datetime, keep_since: bool = False) -> q.EventFilter:
        """Without a saved filter and without --scope, the caller's account is the scope.
        `keep_since`: --since as the preset of the same length (for a filter saved to reuse)."""
        v = self.values
        f = q.EventFilter()
        since = v.get("since")
        if v.get("preset") is not None:
            if since or v.get("start") or v.get("end"):
                raise usage("--preset: give a preset or --since or --from/--to, not two")
            f.preset = Preset(v["preset"]).wire
        if keep_since and since:
            if v.get("start") or v.get("end"):
                raise usage("--since: give --since or --from/--to, not both")
            f.preset = _preset_of(since)
            since = None
        window = time_range(since, v.get("start"), v.get("end"), now)
        if window is not None:
            f.start.CopyFrom(stamp(window[0]))
            f.end.CopyFrom(stamp(window[1]))
        kinds = (("user", ev.PRINCIPAL_TYPE_USER),
                 ("service_account", ev.PRINCIPAL_TYPE_SERVICE_ACCOUNT),
                 ("principal", ev.PRINCIPAL_TYPE_UNSPECIFIED))  # fmt: skip
        for key, kind in kinds:
            for identifier in v.get(key) or ():
                f.principals.add(type=kind, identifier=identifier)
        f.actions.extend(action(a) for a in v.get("action") or ())
        f.resource_types.extend(v.get("resource_type") or ())
        f.resource_identifiers.extend(v.get("resource_id") or ())
        f.modules.extend(v.get("module") or ())
        scopes = self.scopes or ([] if self.saved else [account])
        for scope in scopes:
            f.scopes.add(scope=scope, exclude_child_scopes=bool(v.get("exclude_child_scopes")))
        f.exclude_login_events = bool(v.get("exclude_login"))
        f.exclude_system_events = bool(v.get("exclude_system"))
        f.client_networks.extend(v.get("network") or ())
        f.text = v.get("text") or ""
        return f


def _preset_of(since: str) -> q.TimePreset.ValueType:
    for preset in Preset:
        if duration(preset.value.replace("1y", "365d"), "--preset") == duration(since, "--since"):
            return preset.wire
    raise usage(
        f"--since: a saved filter keeps a named range ({', '.join(p.value for p in Preset)}) "
        f"or --from/--to, not {since!r}"
    )


def with_window(f: q.EventFilter, start: datetime, end: datetime) -> q.EventFilter:
    """A copy of the filter over [start, end) instead of its own range (for tail)."""
    copy = q.EventFilter()
    copy.CopyFrom(f)
    copy.ClearField("preset")
    copy.start.CopyFrom(stamp(start))
    copy.end.CopyFrom(stamp(end))
    return copy


OVERLAP = timedelta(minutes=2)
