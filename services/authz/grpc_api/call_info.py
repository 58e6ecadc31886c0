"""Who is calling and from where. The wrapper of every RPC (errors.authenticated) authenticates
the call and puts the caller (and the server's trusted proxies) in context variables; handlers
read them here with the request's metadata."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

import grpc

from libs.runtime.call_origin import Network, client_ip, metadata_of, peer_ip
from services.authz.domain.audit import Caller, CallInfo

CURRENT_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("current_caller")
TRUSTED_PROXIES: contextvars.ContextVar[Sequence[Network]] = contextvars.ContextVar(
    "trusted_proxies", default=()
)


def call_info(context: grpc.aio.ServicerContext[Any, Any]) -> CallInfo:
    metadata = metadata_of(context)
    forwarded = metadata.get("x-forwarded-for", "")[:1024]
    address = client_ip(peer_ip(context.peer()), forwarded, TRUSTED_PROXIES.get())
    return CallInfo(
        caller=CURRENT_CALLER.get(),
        client_ip=address[:64],
        user_agent=metadata.get("user-agent", "")[:512],
        request_id=metadata.get("x-request-id", "")[:128],
    )
