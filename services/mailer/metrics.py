"""The mailer's metrics: mails by result, and failed SMTP attempts (retried)."""

from __future__ import annotations

from prometheus_client import Counter

MAILS = Counter(
    "mailer_mails_total",
    "Notifications handled, by result: sent; refused (for good by the SMTP server, or not a "
    "kind this mailer delivers); undecodable (skipped).",
    ["result"],
)
SENT = MAILS.labels("sent")
REFUSED = MAILS.labels("refused")
UNDECODABLE = MAILS.labels("undecodable")
SMTP_FAILURES = Counter(
    "mailer_smtp_failures_total",
    "SMTP attempts that failed and will be retried (server away, temporary refusal).",
)
