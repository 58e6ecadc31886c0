"""An audit event as the store keeps it, and the error of an event that breaks the contract.
Decoding from protobuf is the projector's edge (services/audit/event_decoding.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple


class InvalidEvent(Exception):
    """The bytes are not an AuditEvent, or it breaks the contract: it goes to the dead letters."""


class AuditRecord(NamedTuple):
    """Immutable; a named tuple rather than a frozen dataclass because the projector makes one
    per event, and a tuple is built several times faster."""

    event_id: uuid.UUID
    occurred_at: datetime  # UTC, microseconds (what PostgreSQL keeps)
    account: str
    organization: str
    project: str
    module: str
    principal_type: str
    principal_id: str
    principal_email: str
    action: str
    resource_type: str
    resource_id: str
    resource_labels: dict[str, str]
    client_ip: str
    user_agent: str
    request_id: str
    old_state: Any  # parsed JSON, or None
    new_state: Any
    policy_revision: int
    schema_version: int
    trace_id: str = ""  # the OpenTelemetry trace of the request that made the change
