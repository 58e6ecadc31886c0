"""The AuditEvent contract in code: build, encode, decode (topic audit.events.v1, key = account)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uuid6

from audit.v1 import event_pb2 as pb
from libs.outbox.masking import mask_secrets
from libs.runtime.tracing import current_trace_id

TOPIC = "audit.events.v1"
SCHEMA_VERSION = 1
CONTENT_TYPE = "application/x-protobuf; messageType=audit.v1.AuditEvent"
# An event's largest encoded size: well under Kafka's default message limit (1 MiB), so that one
# change can never be refused by the broker. Larger states are summarized (see `fit`).
MAX_EVENT_BYTES = 256 * 1024
MAX_LABEL_CHARS = 1024
SUMMARIZED_LABEL = "state_summarized"


@dataclass(frozen=True)
class Request:
    client_ip: str = ""
    user_agent: str = ""
    request_id: str = ""


def scope_message(path: str) -> pb.Scope:
    parts = [*path.split("/"), "", "", ""][:3] if path else ["", "", ""]
    return pb.Scope(account=parts[0], organization=parts[1], project=parts[2])


def state_json(state: dict[str, Any] | None) -> str:
    return "" if state is None else json.dumps(mask_secrets(state), sort_keys=True)


def new_event(
    *,
    module: str,
    scope: str,
    principal: pb.Principal,
    action: pb.Action.ValueType,
    resource_type: str,
    resource_identifier: str,
    old_state: dict[str, Any] | None,
    new_state: dict[str, Any] | None,
    request: Request,
    policy_revision: int = 0,
    labels: dict[str, str] | None = None,
    occurred_at: datetime | None = None,
) -> pb.AuditEvent:
    """A complete event with a fresh UUIDv7 id; secrets in the states are masked here. The
    event records the trace of the request in progress (tracing on), linking the record to it."""
    event = pb.AuditEvent(
        event_id=str(uuid6.uuid7()),
        scope=scope_message(scope),
        module=module,
        principal=principal,
        action=action,
        resource=pb.Resource(
            type=resource_type, identifier=resource_identifier, labels=mask_secrets(labels or {})
        ),
        request=pb.RequestMetadata(
            client_ip=request.client_ip,
            user_agent=request.user_agent,
            request_id=request.request_id,
        ),
        old_state_json=state_json(old_state),
        new_state_json=state_json(new_state),
        policy_revision=policy_revision,
        schema_version=SCHEMA_VERSION,
        trace_id=current_trace_id(),
    )
    event.occurred_at.FromDatetime(occurred_at or datetime.now(UTC))
    return fit(event, MAX_EVENT_BYTES)


def summary_of(state_json: str) -> str:
    """What stays of a state too large for an event: its size, a digest to match it against
    the store, and each top-level field (short scalars kept, lists and objects counted)."""
    fields: dict[str, Any] = {}
    for key, value in json.loads(state_json).items():
        if isinstance(value, list | dict):
            fields[key] = {"count": len(value)}
        elif isinstance(value, str) and len(value) > 256:
            fields[key] = {"chars": len(value)}
        else:
            fields[key] = value
    summary = {
        "summarized": True,
        "bytes": len(state_json.encode()),
        "sha256": hashlib.sha256(state_json.encode()).hexdigest(),
        "fields": fields,
    }
    return json.dumps(summary, sort_keys=True)


def fit(event: pb.AuditEvent, max_bytes: int) -> pb.AuditEvent:
    """The event itself when it fits in max_bytes; else its states summarized and long labels
    cut, marked with the label `state_summarized` (never dropped silently)."""
    if event.ByteSize() <= max_bytes:
        return event
    for key, value in list(event.resource.labels.items()):
        if len(value) > MAX_LABEL_CHARS:
            event.resource.labels[key] = value[:MAX_LABEL_CHARS] + f"... ({len(value)} chars)"
    if event.old_state_json:
        event.old_state_json = summary_of(event.old_state_json)
    if event.new_state_json:
        event.new_state_json = summary_of(event.new_state_json)
    event.resource.labels[SUMMARIZED_LABEL] = "true"
    return event


def key_of(event: pb.AuditEvent) -> bytes:
    """Order holds per account: every event of an account goes to one partition."""
    return event.scope.account.encode()


def headers_of(event: pb.AuditEvent) -> dict[str, str]:
    return {
        "content-type": CONTENT_TYPE,
        "event-id": event.event_id,
        "schema-version": str(event.schema_version),
    }


def decode(payload: bytes) -> pb.AuditEvent:
    event = pb.AuditEvent()
    event.ParseFromString(payload)
    return event
