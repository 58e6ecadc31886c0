"""Who is calling and from where. The wrapper of every RPC (errors.mapped) authenticates the call
and puts the caller in a context variable; handlers read it here with the request's metadata."""

from __future__ import annotations

import contextvars
from typing import Any

import grpc

from services.authz.domain.audit import Caller, CallInfo

CURRENT_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("current_caller")


def peer_ip(peer: str) -> str:
    """'ipv4:127.0.0.1:5000' -> '127.0.0.1'; 'ipv6:[::1]:5000' -> '::1'."""
    family, _, rest = peer.partition(":")
    if family == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    if family == "ipv4":
        return rest.rpartition(":")[0]
    return ""


def metadata_of(context: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    return {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}


def call_info(context: grpc.aio.ServicerContext[Any, Any]) -> CallInfo:
    metadata = metadata_of(context)
    forwarded = metadata.get("x-forwarded-for", "")
    client_ip = forwarded.split(",")[0].strip() if forwarded else peer_ip(context.peer())
    return CallInfo(
        caller=CURRENT_CALLER.get(),
        client_ip=client_ip[:64],
        user_agent=metadata.get("user-agent", "")[:512],
        request_id=metadata.get("x-request-id", "")[:128],
    )
