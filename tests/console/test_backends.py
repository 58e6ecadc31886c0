"""The console's channel to the audit API: short calls get the deadline, long ones their own."""

from __future__ import annotations

import json

from audit.v1 import query_pb2 as q
from services.console.backends import LONG_CALLS, audit_service_config


def test_every_short_call_has_the_deadline_and_no_long_one_is_capped() -> None:
    config = json.loads(audit_service_config(5.0))
    [entry] = config["methodConfig"]
    assert entry["timeout"] == "5.000s"
    named = {n["method"] for n in entry["name"]}
    every = {m.name for m in q.DESCRIPTOR.services_by_name["AuditQueryService"].methods}
    assert named == every - LONG_CALLS
    assert "ListEvents" in named
    assert all(n["service"] == "audit.v1.AuditQueryService" for n in entry["name"])
