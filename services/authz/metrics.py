"""authz's own metrics (the gRPC ones are libs.runtime.metrics'): decisions by outcome, the
decision cache, the policy revision of this replica, API key authentications by result. Label
values are fixed words, never principals, accounts or tokens (DESIGN section 6).

With several workers (AUTHZ_WORKERS) every worker writes its samples to the directory the
supervisor made (libs.runtime.metrics_http); gauges say how the workers' values combine."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

DECISIONS = Counter(
    "authz_decisions_total",
    "Access decisions made (Check and each BatchCheck item), by outcome.",
    ["rpc", "outcome"],  # rpc: Check | BatchCheck; outcome: allowed | denied | error
)
CHECK_ALLOWED = DECISIONS.labels("Check", "allowed")
CHECK_DENIED = DECISIONS.labels("Check", "denied")
BATCH_ALLOWED = DECISIONS.labels("BatchCheck", "allowed")
BATCH_DENIED = DECISIONS.labels("BatchCheck", "denied")
BATCH_ERROR = DECISIONS.labels("BatchCheck", "error")  # an item refused (invalid, not allowed)

DECISION_CACHE_MISSES = Counter(
    "authz_decision_cache_misses_total",
    "Decisions the policy index had to evaluate (not in its decision cache). Hit ratio: "
    "1 - misses / decisions.",
)

POLICY_REVISION = Gauge(
    "authz_policy_revision",
    "The policy revision this replica answers from (compare replicas: the lowest is behind).",
    multiprocess_mode="liveall",
)
POLICY_LINES = Gauge(
    "authz_policy_lines", "Policy lines in this replica's index.", multiprocess_mode="liveall"
)
POLICY_CAUGHT_UP = Gauge(
    "authz_policy_caught_up_timestamp_seconds",
    "When this replica last read the policy log to its end (Unix time). Old: it is not "
    "following the log (the LISTEN connection and the poll both failing).",
    multiprocess_mode="liveall",
)

AUTHENTICATIONS = Counter(
    "authz_api_key_authentications_total",
    "Bearer tokens checked, by result: accepted, or why refused (the caller is told only "
    "UNAUTHENTICATED).",
    ["result"],  # accepted | malformed | unknown_key | wrong_secret | revoked | expired
)
AUTH_RESULTS = {
    name: AUTHENTICATIONS.labels(name)
    for name in ("accepted", "malformed", "unknown_key", "wrong_secret", "revoked", "expired")
}


def policy_advanced(revision: int, lines: int) -> None:
    POLICY_REVISION.set(revision)
    POLICY_LINES.set(lines)


def policy_caught_up() -> None:
    POLICY_CAUGHT_UP.set(time.time())
