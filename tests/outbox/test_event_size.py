"""An event never outgrows the broker's limit: large states are summarized and marked."""

from __future__ import annotations

import json
from typing import Any

from audit.v1 import event_pb2 as pb
from libs.events import codec


def event(state: dict[str, Any], labels: dict[str, str] | None = None) -> pb.AuditEvent:
    return codec.new_event(
        module="authz",
        scope="a",
        principal=pb.Principal(identifier="admin"),
        action=pb.ACTION_UPDATE,
        resource_type="RESOURCE_GROUP",
        resource_identifier="big",
        old_state=state,
        new_state=state,
        request=codec.Request(),
        labels=labels,
    )


def test_a_small_event_is_untouched() -> None:
    e = event({"identifier": "small", "resource_filters": [{"identifiers": ["x"]}]})
    assert codec.SUMMARIZED_LABEL not in e.resource.labels
    assert json.loads(e.new_state_json)["identifier"] == "small"


def test_a_huge_state_is_summarized_marked_and_fits() -> None:
    ids = [f"id-{i:04d}-" + "x" * 120 for i in range(3000)]
    state = {"identifier": "big", "name": "n", "resource_filters": [{"identifiers": ids}]}
    e = event(state, {"cascaded": ",".join(ids)})
    assert e.ByteSize() <= codec.MAX_EVENT_BYTES
    assert e.resource.labels[codec.SUMMARIZED_LABEL] == "true"
    summary = json.loads(e.new_state_json)
    assert summary["summarized"] is True
    assert summary["bytes"] > codec.MAX_EVENT_BYTES
    assert summary["fields"]["identifier"] == "big"
    assert summary["fields"]["resource_filters"] == {"count": 1}
    assert len(summary["sha256"]) == 64
    assert e.resource.labels["cascaded"].endswith(f"({len(','.join(ids))} chars)")
