"""The one mapping from domain errors to gRPC status codes, applied to every handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from services.authz.domain.errors import (
    AlreadyExists,
    AuthzError,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    RevisionNotReached,
)

log = logging.getLogger(__name__)

STATUS: dict[type[AuthzError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    EtagMismatch: grpc.StatusCode.ABORTED,
    RevisionNotReached: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_of(exc: AuthzError) -> grpc.StatusCode:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


Behavior = Callable[[Any, Any], Awaitable[Any]]


def mapped(behavior: Behavior, method: str) -> Behavior:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await behavior(request, context)
        except AuthzError as exc:
            await context.abort(status_of(exc), exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

    return handle


class ErrorMapping(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Wraps every unary-unary handler so that errors leave as status codes, never tracebacks."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        return grpc.unary_unary_rpc_method_handler(
            mapped(handler.unary_unary, details.method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
