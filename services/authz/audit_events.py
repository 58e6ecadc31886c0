"""Turns a management Change into an AuditEvent in the outbox, in the write's transaction."""

from __future__ import annotations

from audit.v1 import event_pb2 as pb
from libs.events import codec
from libs.outbox.writer import add_event
from services.authz.domain.audit import CallInfo, Change
from services.authz.store.repository import Conn

MODULE = "authz"
# Global changes (the permission registry) belong to no account: the trail files them here.
GLOBAL_ACCOUNT = "_global"
PRINCIPAL_TYPES = {
    "USER": pb.PRINCIPAL_TYPE_USER,
    "SERVICE_ACCOUNT": pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT,
    "SYSTEM": pb.PRINCIPAL_TYPE_SYSTEM,
}


def event_of(change: Change, revision: int, call: CallInfo) -> pb.AuditEvent:
    caller = call.caller
    return codec.new_event(
        module=call.module or MODULE,
        scope=change.scope or GLOBAL_ACCOUNT,
        principal=pb.Principal(
            type=PRINCIPAL_TYPES.get(caller.type, pb.PRINCIPAL_TYPE_UNSPECIFIED),
            identifier=caller.identifier,
            email=caller.email,
        ),
        action=pb.Action.Value(f"ACTION_{change.action}"),
        resource_type=change.kind.upper(),
        resource_identifier=change.identifier,
        old_state=change.old,
        new_state=change.new,
        request=codec.Request(call.client_ip, call.user_agent, call.request_id),
        policy_revision=revision,
        labels=change.labels,
    )


class OutboxEvents:
    def __init__(self, topic: str = codec.TOPIC) -> None:
        self.topic = topic

    async def record(self, conn: Conn, change: Change, revision: int, call: CallInfo) -> None:
        await add_event(conn, event_of(change, revision, call), self.topic)
