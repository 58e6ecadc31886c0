"""The gRPC call being handled, for the log lines written while it runs: set by the measuring
wrapper of every handler (libs.runtime.metrics), read only when a line is written, so a call
that logs nothing pays one context variable assignment."""

from __future__ import annotations

import contextvars
from typing import Any

import grpc

from libs.runtime.call_origin import metadata_of

# (the fully qualified method, its context); a handler's task has its own copy.
CURRENT_CALL: contextvars.ContextVar[tuple[str, grpc.aio.ServicerContext[Any, Any]] | None] = (
    contextvars.ContextVar("current_call", default=None)
)

MAX_REQUEST_ID = 128  # as audited (services/authz/grpc_api/call_info.py)


def current_method() -> str:
    call = CURRENT_CALL.get()
    return "" if call is None else call[0]


def current_request_id() -> str:
    """The caller's `x-request-id` of the call in progress ('' when none), bounded and printable
    only: it goes into log lines."""
    call = CURRENT_CALL.get()
    if call is None:
        return ""
    request_id = metadata_of(call[1]).get("x-request-id", "")
    return "".join(c for c in request_id[:MAX_REQUEST_ID] if c.isprintable())
