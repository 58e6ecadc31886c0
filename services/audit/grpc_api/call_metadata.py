"""What the query API reads from a call's metadata: the bearer token, and who is calling from
where (for the audit events of its denials)."""

from __future__ import annotations

from typing import Any

import grpc

from libs.events import codec
from libs.runtime.call_origin import bearer_token, metadata_of, peer_ip
from services.audit.domain.errors import Unauthenticated

Context = grpc.aio.ServicerContext[Any, Any]


def bearer(context: Context) -> str:
    token = bearer_token(metadata_of(context).get("authorization", ""))
    if token is None:
        raise Unauthenticated()
    return token


def request_of(context: Context) -> codec.Request:
    """The caller's address as the server sees it (no forwarding headers are trusted here),
    user agent and request id, for audit events."""
    metadata = metadata_of(context)
    return codec.Request(
        peer_ip(context.peer() or ""),
        metadata.get("user-agent", "")[:256],
        metadata.get("x-request-id", "")[:128],
    )
