"""The rows of ExportEvents: CSV (a header, then one line per event) or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from services.audit.domain.records import AuditRecord

CSV_COLUMNS = [
    "event_id", "occurred_at", "account", "organization", "project", "module", "principal_type",
    "principal_id", "principal_email", "action", "resource_type", "resource_id", "client_ip",
    "user_agent", "request_id", "policy_revision", "old_state", "new_state",
]  # fmt: skip


def csv_row(r: AuditRecord) -> list[str]:
    values = {
        **{c: str(getattr(r, c)) for c in CSV_COLUMNS if c not in ("old_state", "new_state")},
        "occurred_at": r.occurred_at.isoformat(),
        "old_state": "" if r.old_state is None else json.dumps(r.old_state, sort_keys=True),
        "new_state": "" if r.new_state is None else json.dumps(r.new_state, sort_keys=True),
    }
    return [values[c] for c in CSV_COLUMNS]


def json_line(r: AuditRecord) -> str:
    row: dict[str, object] = dict(zip(CSV_COLUMNS, csv_row(r), strict=True))
    row["old_state"], row["new_state"] = r.old_state, r.new_state
    row["policy_revision"] = r.policy_revision
    return json.dumps(row, sort_keys=True)


def csv_lines(page: Sequence[AuditRecord], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(r) for r in page)
    return buffer.getvalue()


def json_lines(page: Sequence[AuditRecord]) -> str:
    return "".join(json_line(r) + "\n" for r in page)
