"""The audit service's metrics: the projector's (events stored, dead letters, batches, retries,
the consumer group's lag per partition) and the query API's (query latency by filter shape).
Labels are fixed words, partition numbers and shapes (domain.query.shape_of), never accounts,
principals or filter values (DESIGN section 6)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STORED = Counter("audit_projector_events_stored_total", "Events written to the audit store.")
DEAD_LETTERS = Counter(
    "audit_projector_dead_letters_total",
    "Events set aside as dead letters, by stage: decode (not an AuditEvent, or breaking the "
    "contract) or store (data PostgreSQL refuses for good).",
    ["stage"],
)
DEAD_AT_DECODE = DEAD_LETTERS.labels("decode")
DEAD_AT_STORE = DEAD_LETTERS.labels("store")
WRITE_RETRIES = Counter(
    "audit_projector_write_retries_total",
    "Batch writes that failed transiently (database away) and were retried.",
)
BATCH_SECONDS = Histogram(
    "audit_projector_batch_seconds",
    "Time to store one batch taken from the topic (dead letters included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GROUP_LAG = Gauge(
    "audit_projector_lag",
    "Events of the topic not yet committed by the consumer group, by partition (as the "
    "broker reports them; every worker of the group reports the same).",
    ["partition"],
)

QUERY_SECONDS = Histogram(
    "audit_query_seconds",
    "Time the audit store takes to answer one page of a ListEvents query, by filter shape.",
    ["shape"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
