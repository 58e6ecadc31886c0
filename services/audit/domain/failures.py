"""Which store failures are worth retrying: a pure classification by SQLSTATE.

Transient (connection lost, serialization failure, deadlock, a server shutting down, out of
resources, a missing table during a migration...) is retried with backoff: the same write will
succeed later. Permanent is PostgreSQL refusing the data itself (class 22: a NUL character in
text or JSON, a value out of range; class 23: a constraint; 54000: an index row too big): the
same event will be refused forever, so it goes to the dead letters and the stream goes on.
Anything unknown counts as transient: dead-lettering on a misclassified outage would empty the
stream into the dead letters, while retrying an unknown error only waits (and shows in health).
"""

from __future__ import annotations

PERMANENT_CLASSES = frozenset({"22", "23"})
PERMANENT_CODES = frozenset({"54000"})  # program_limit_exceeded: e.g. index row size


def rejected_for_good(sqlstate: str | None) -> bool:
    if not sqlstate:
        return False
    return sqlstate[:2] in PERMANENT_CLASSES or sqlstate in PERMANENT_CODES


def printable_reason(text: str, limit: int = 1000) -> str:
    """A reason fit for a text column and a log line: no NUL or control characters, bounded."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."
