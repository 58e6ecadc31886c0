"""Every handler goes through here: the caller is authenticated (but for health and reflection),
and errors leave through the one mapping from domain errors to gRPC status codes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

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
)
from services.authz.grpc_api.call_info import CURRENT_CALLER, metadata_of

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
}


def status_of(exc: AuthzError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


Behavior = Callable[[Any, Any], Awaitable[Any]]


OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def mapped(behavior: Behavior, method: str, authenticator: Authenticator) -> Behavior:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            header = metadata_of(context).get("authorization", "")
            CURRENT_CALLER.set(await authenticator.authenticate(header))
            return await behavior(request, context)
        except AuthzError as exc:
            await context.abort(status_of(exc), exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return handle


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every unary-unary handler: authentication first, errors as status codes, never
    tracebacks."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator
        # The wrapped handler of each method, made once: this runs for every call.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        wrapped = self._wrapped.get(details.method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        if handler.unary_unary is None:  # fail closed: a streaming RPC must be wrapped first
            raise RuntimeError(f"{details.method}: only unary RPCs are authenticated here")
        wrapped = self._wrapped[details.method] = grpc.unary_unary_rpc_method_handler(
            mapped(handler.unary_unary, details.method, self.authenticator),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        return wrapped
