"""What the query API reads from a call's metadata: the bearer token, and who is calling from
where (for the audit events of its denials)."""

from __future__ import annotations

from typing import Any

import grpc

from libs.events import codec
from services.audit.domain.errors import Unauthenticated

Context = grpc.aio.ServicerContext[Any, Any]


def bearer(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    raise Unauthenticated()


def request_of(context: Context) -> codec.Request:
    """The caller's address as the server sees it (no forwarding headers are trusted here),
    user agent and request id, for audit events."""
    metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    address = rest.rsplit(":", 1)[0].strip("[]") if kind in ("ipv4", "ipv6") else ""
    return codec.Request(
        address,
        metadata.get("user-agent", "")[:256],
        metadata.get("x-request-id", "")[:128],
    )
