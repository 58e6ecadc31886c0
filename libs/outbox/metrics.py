"""The outbox relay's metrics: rows published and set aside, failed attempts, and what waits
(rows not yet sent, the age of the oldest), sampled from the table. A relay runs in authz (worker
0) or alone; gauges of several relays of one database read the same table, so their maximum is
the answer."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka and marked sent.")
DEAD = Counter(
    "outbox_dead_rows_total",
    "Outbox rows Kafka refused for good (too large, invalid topic), set aside with dead_at.",
)
FAILURES = Counter(
    "outbox_publish_failures_total",
    "Publishing attempts that failed and will be retried (Kafka or PostgreSQL away).",
)
PENDING = Gauge(
    "outbox_pending_rows",
    "Outbox rows waiting to be published (neither sent nor dead).",
    multiprocess_mode="livemax",
)
OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest row waiting to be published; 0 when none waits.",
    multiprocess_mode="livemax",
)
DEAD_ROWS = Gauge(
    "outbox_dead_rows_kept",
    "Dead rows in the outbox table (kept for an operator to look at).",
    multiprocess_mode="livemax",
)
