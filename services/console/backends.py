"""The console's only way to the data: the gRPC APIs of authz and audit, called with the
signed-in user's own token, so that every rule of authz and the audit API applies unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc

from audit.v1 import query_pb2 as q_pb
from audit.v1 import query_pb2_grpc as q_grpc
from authz.v1 import authz_pb2_grpc as a_grpc
from authz.v1 import invitations_pb2_grpc as i_grpc
from libs.grpc_tls import channel_credentials, open_channel
from libs.runtime.authz_channel import authz_channel
from services.console.settings import ConsoleSettings

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """Per call rather than an interceptor per channel (libs.runtime.bearer_token): one shared
    channel serves every signed-in user, each call carrying its own user's token."""
    return (("authorization", f"Bearer {token}"),)


# Calls that set their own deadline: a channel's default would cap them (the shorter wins).
LONG_CALLS = {"ExportEvents", "VerifyChain"}


def audit_service_config(timeout_s: float) -> str:
    """A deadline for each short call of the audit query API."""
    service = q_pb.DESCRIPTOR.services_by_name["AuditQueryService"]
    short = [m.name for m in service.methods if m.name not in LONG_CALLS]
    names = [{"service": service.full_name, "method": name} for name in short]
    return json.dumps({"methodConfig": [{"name": names, "timeout": f"{timeout_s:.3f}s"}]})


@dataclass
class Backends:
    authz: grpc.aio.Channel
    audit: grpc.aio.Channel
    access: a_grpc.AccessServiceAsyncStub
    groups: a_grpc.UserGroupServiceAsyncStub
    bindings: a_grpc.RoleBindingServiceAsyncStub
    invitations: i_grpc.InvitationServiceAsyncStub  # AcceptInvitation: no token at all
    events: q_grpc.AuditQueryServiceAsyncStub

    @classmethod
    def open(cls, settings: ConsoleSettings) -> Backends:
        authz = authz_channel(settings)
        credentials = channel_credentials(
            settings.audit_tls_ca_file, settings.audit_tls_cert_file, settings.audit_tls_key_file
        )
        config = audit_service_config(settings.authz_timeout_s)
        audit = open_channel(settings.audit_target, credentials, [("grpc.service_config", config)])
        return cls(
            authz,
            audit,
            a_grpc.AccessServiceStub(authz),
            a_grpc.UserGroupServiceStub(authz),
            a_grpc.RoleBindingServiceStub(authz),
            i_grpc.InvitationServiceStub(authz),
            q_grpc.AuditQueryServiceStub(audit),
        )

    async def close(self) -> None:
        await self.authz.close(None)
        await self.audit.close(None)
