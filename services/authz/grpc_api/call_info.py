"""Who is calling and from where, read from the gRPC call for the audit trail."""

from __future__ import annotations

from typing import Any

import grpc

from services.authz.domain.audit import Caller, CallInfo

# Until authentication lands, the caller names itself in this metadata: "USER:alice".
PRINCIPAL_HEADER = "x-principal"
CALLER_TYPES = {"USER", "SERVICE_ACCOUNT"}


def peer_ip(peer: str) -> str:
    """'ipv4:127.0.0.1:5000' -> '127.0.0.1'; 'ipv6:[::1]:5000' -> '::1'."""
    family, _, rest = peer.partition(":")
    if family == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if family == "ipv4":
        return rest.rpartition(":")[0]
    return ""


def caller_from(header: str) -> Caller:
    kind, _, identifier = header.partition(":")
    if kind in CALLER_TYPES and identifier:
        return Caller(kind, identifier[:128])
    return Caller("UNSPECIFIED", "anonymous")


def call_info(context: grpc.aio.ServicerContext[Any, Any]) -> CallInfo:
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    forwarded = metadata.get("x-forwarded-for", "")
    client_ip = forwarded.split(",")[0].strip() if forwarded else peer_ip(context.peer())
    return CallInfo(
        caller=caller_from(metadata.get(PRINCIPAL_HEADER, "")),
        client_ip=client_ip,
        user_agent=metadata.get("user-agent", "")[:512],
        request_id=metadata.get("x-request-id", "")[:128],
    )
