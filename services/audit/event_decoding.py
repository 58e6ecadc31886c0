"""The projector's decoding edge: AuditEvent bytes -> AuditRecord, with the contract checks
that admit an event (a refused one raises InvalidEvent and becomes a dead letter)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import DecodeError

from audit.v1 import event_pb2 as pb
from services.audit.domain.records import AuditRecord, InvalidEvent


def _state(raw: str, field: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidEvent(f"{field} is not JSON") from None


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)  # a value newer than this reader: kept, not refused


def record_from_bytes(payload: bytes) -> AuditRecord:
    try:
        event = pb.AuditEvent.FromString(payload)
    except DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from None
    return record_from_event(event)


def record_from_event(event: pb.AuditEvent) -> AuditRecord:
    if not event.event_id:
        raise InvalidEvent("missing event_id")
    try:
        event_id = uuid.UUID(event.event_id)
    except ValueError:
        raise InvalidEvent(f"event_id {event.event_id[:64]!r} is not a UUID") from None
    if not event.HasField("occurred_at") or (
        event.occurred_at.seconds,
        event.occurred_at.nanos,
    ) == (0, 0):
        raise InvalidEvent("missing occurred_at")
    if not event.scope.account:
        raise InvalidEvent("missing scope.account")
    if event.scope.project and not event.scope.organization:
        raise InvalidEvent("scope.project without scope.organization")
    try:
        occurred_at = datetime.fromtimestamp(event.occurred_at.seconds, UTC).replace(
            microsecond=event.occurred_at.nanos // 1000
        )
    except (OverflowError, OSError, ValueError):
        raise InvalidEvent("occurred_at out of range") from None
    return AuditRecord(
        event_id=event_id,
        occurred_at=occurred_at,
        account=event.scope.account,
        organization=event.scope.organization,
        project=event.scope.project,
        module=event.module,
        principal_type=_enum_name(pb.PrincipalType, event.principal.type).removeprefix(
            "PRINCIPAL_TYPE_"
        ),
        principal_id=event.principal.identifier,
        principal_email=event.principal.email,
        action=_enum_name(pb.Action, event.action).removeprefix("ACTION_"),
        resource_type=event.resource.type,
        resource_id=event.resource.identifier,
        resource_labels=dict(event.resource.labels),
        client_ip=event.request.client_ip,
        user_agent=event.request.user_agent,
        request_id=event.request.request_id,
        old_state=_state(event.old_state_json, "old_state_json"),
        new_state=_state(event.new_state_json, "new_state_json"),
        policy_revision=event.policy_revision,
        schema_version=event.schema_version,
        trace_id=event.trace_id,
    )
