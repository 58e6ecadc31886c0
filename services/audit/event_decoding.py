"""The projector's decoding edge: AuditEvent bytes -> AuditRecord, with the contract checks
that admit an event (a refused one raises InvalidEvent and becomes a dead letter)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import DecodeError

from audit.v1 import event_pb2 as pb
from services.audit.domain.records import AuditRecord, InvalidEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _state(raw: str, field: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidEvent(f"{field} is not JSON") from None


# Enum number -> stored name, built once: a per-event Name() lookup and removeprefix cost more
# than the protobuf parse itself at the projector's rate.
_PRINCIPAL_TYPES = {
    v.number: v.name.removeprefix("PRINCIPAL_TYPE_") for v in pb.PrincipalType.DESCRIPTOR.values
}
_ACTIONS = {v.number: v.name.removeprefix("ACTION_") for v in pb.Action.DESCRIPTOR.values}


def _enum_name(names: dict[int, str], value: int) -> str:
    name = names.get(value)
    return str(value) if name is None else name  # a value newer than this reader: kept


def record_from_bytes(payload: bytes) -> AuditRecord:
    try:
        event = pb.AuditEvent.FromString(payload)
    except DecodeError as exc:
        raise InvalidEvent(f"undecodable: {exc}") from None
    return record_from_event(event)


def record_from_event(event: pb.AuditEvent) -> AuditRecord:
    # Each sub-message is read once into a local: attribute access on a upb message builds a
    # wrapper every time.
    if not event.event_id:
        raise InvalidEvent("missing event_id")
    try:
        event_id = uuid.UUID(event.event_id)
    except ValueError:
        raise InvalidEvent(f"event_id {event.event_id[:64]!r} is not a UUID") from None
    at = event.occurred_at
    seconds, nanos = at.seconds, at.nanos
    if seconds == 0 and nanos == 0:  # an absent timestamp reads as zero too
        raise InvalidEvent("missing occurred_at")
    scope, principal, resource, request = (
        event.scope,
        event.principal,
        event.resource,
        event.request,
    )
    account, organization, project = scope.account, scope.organization, scope.project
    if not account:
        raise InvalidEvent("missing scope.account")
    if project and not organization:
        raise InvalidEvent("scope.project without scope.organization")
    if not 0 <= nanos < 1_000_000_000:
        raise InvalidEvent("occurred_at out of range")
    try:
        occurred_at = EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise InvalidEvent("occurred_at out of range") from None
    labels = resource.labels
    # Positional, in AuditRecord's field order: keywords cost more than the tuple itself.
    return AuditRecord(
        event_id,
        occurred_at,
        account,
        organization,
        project,
        event.module,
        _enum_name(_PRINCIPAL_TYPES, principal.type),
        principal.identifier,
        principal.email,
        _enum_name(_ACTIONS, event.action),
        resource.type,
        resource.identifier,
        # dict() of a upb map goes through Mapping.keys(): slow, and most events have none.
        {k: labels[k] for k in labels} if labels else {},
        request.client_ip,
        request.user_agent,
        request.request_id,
        _state(event.old_state_json, "old_state_json"),
        _state(event.new_state_json, "new_state_json"),
        event.policy_revision,
        event.schema_version,
        event.trace_id,
    )
