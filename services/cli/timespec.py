"""Times as people type them: durations (`90s`, `15m`, `12h`, `7d`, `2w`) and moments (ISO 8601
dates or date-times; without a zone, UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from services.cli.failures import usage

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhdw])\s*$")


def duration(text: str, flag: str) -> timedelta:
    found = _DURATION.match(text)
    if found is None:
        raise usage(f"{flag}: {text!r} is not a duration like 90s, 15m, 12h, 7d or 2w")
    return timedelta(seconds=int(found[1]) * _UNITS[found[2]])


def moment(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise usage(f"{flag}: {text!r} is not an ISO 8601 date or date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value.astimezone(UTC))
    return result


def time_range(
    since: str | None, start: str | None, end: str | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """[start, end) from `--since` or `--from/--to` (`--to` alone: since the default start is
    not known here, it needs `--from`); None when neither is given."""
    if since is not None and (start is not None or end is not None):
        raise usage("--since: give --since or --from/--to, not both")
    if since is not None:
        return now - duration(since, "--since"), now + timedelta(seconds=1)
    if start is None and end is None:
        return None
    if start is None:
        raise usage("--to: give --from as well")
    begin = moment(start, "--from")
    finish = moment(end, "--to") if end is not None else now + timedelta(seconds=1)
    if finish <= begin:
        raise usage("--to: the range is empty or inverted")
    return begin, finish
