"""Every handler goes through here: the caller is authenticated (but for health and reflection),
and errors leave through the one mapping from domain errors to gRPC status codes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import grpc

from authz.v1 import authz_pb2 as pb
from services.authz.authentication import Authenticator
from services.authz.domain.errors import (
    AlreadyExists,
    AuthzError,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RevisionNotReached,
    Unauthenticated,
    Unavailable,
)
from services.authz.grpc_api.call_info import (
    CURRENT_CALLER,
    TRUSTED_PROXIES,
    Network,
    metadata_of,
)

log = logging.getLogger(__name__)

STATUS: dict[type[AuthzError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    EtagMismatch: grpc.StatusCode.ABORTED,
    RevisionNotReached: grpc.StatusCode.DEADLINE_EXCEEDED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}

# Failures of the database that a retry may cure: a statement or lock wait past its limit, a
# connection lost or refused. Answered UNAVAILABLE, never INTERNAL, never a hang.
TRANSIENT: tuple[type[Exception], ...] = (
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a connection broken mid-protocol
    OSError,  # refused or reset connections
    TimeoutError,
)


def status_of(exc: AuthzError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


Behavior = Callable[[Any, Any], Awaitable[Any]]
S = TypeVar("S")


def mapped(
    behavior: Behavior,
    method: str,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> Behavior:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            header = metadata_of(context).get("authorization", "")
            CURRENT_CALLER.set(await authenticator.authenticate(header))
            if trusted_proxies:
                TRUSTED_PROXIES.set(trusted_proxies)
            return await behavior(request, context)
        except AuthzError as exc:
            await context.abort(status_of(exc), exc.message)
        except grpc.aio.AbortError:
            raise
        except TRANSIENT as exc:
            log.warning("%s: unavailable (%s)", method, type(exc).__name__)
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the service is busy: retry")
        except Exception:
            log.exception("unhandled error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return handle


def authenticated(
    servicer: S,
    service: str,
    authenticator: Authenticator,
    trusted_proxies: tuple[Network, ...] = (),
) -> S:
    """The servicer of `service` (in authz.proto) with every RPC wrapped by `mapped`; done once
    per method at start-up (a server interceptor would cost a sixth of the unary throughput).
    Only health and reflection are registered without it."""
    for method in pb.DESCRIPTOR.services_by_name[service].methods:
        if method.client_streaming or method.server_streaming:  # fail closed
            raise RuntimeError(f"{method.full_name}: only unary RPCs are authenticated here")
        behavior = getattr(servicer, method.name)
        wrapped = mapped(behavior, method.full_name, authenticator, trusted_proxies)
        setattr(servicer, method.name, wrapped)
    return servicer
