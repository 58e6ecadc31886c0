"""Monthly range partitions of audit_events: names, bounds, what to create and to drop."""

from __future__ import annotations

from datetime import UTC, datetime


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    return f"audit_events_{start.year:04d}_{start.month:02d}"


def months_to_have(now: datetime, behind: int, ahead: int) -> list[datetime]:
    """The month starts that should have a partition: `behind` before now to `ahead` after."""
    first = month_start(now)
    return [add_months(first, m) for m in range(-behind, ahead + 1)]


def expired(partition_starts: list[datetime], now: datetime, retention_days: int) -> list[datetime]:
    """Partitions wholly older than the retention: their month ended before now - retention."""
    cutoff = now.timestamp() - retention_days * 86400
    return [s for s in partition_starts if add_months(s, 1).timestamp() <= cutoff]
