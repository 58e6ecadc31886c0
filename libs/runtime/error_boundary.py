"""The one error boundary of every gRPC server: what an exception leaving a handler answers.

- A domain error (a subclass of the service's root error) answers the status its class declares
  as a `grpc.StatusCode` name (`status = "NOT_FOUND"`: the domain imports no gRPC), with its
  message.
- A failed call to another service (`grpc.aio.AioRpcError`) keeps its code: UNAVAILABLE stays
  UNAVAILABLE and DEADLINE_EXCEEDED stays, so the caller knows a retry may help. Its details stay
  in our log (they name addresses of our network).
- A transient database failure answers UNAVAILABLE: a retry may succeed.
- Anything else is INTERNAL with a generic message, logged here in full.

Handlers are wrapped once, when a servicer is registered (`guard_servicer`), not by a server
interceptor: an interceptor cost authz a sixth of its unary throughput."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import grpc
from google.protobuf.descriptor import ServiceDescriptor

log = logging.getLogger(__name__)

# Failures of the database that a retry may cure: a statement or lock wait past its limit, a
# connection lost or refused. Answered UNAVAILABLE, never INTERNAL, never a hang.
TRANSIENT_DATABASE_ERRORS: tuple[type[Exception], ...] = (
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

Context = grpc.aio.ServicerContext[Any, Any]
Unary = Callable[[Any, Context], Awaitable[Any]]
Streaming = Callable[[Any, Context], AsyncIterator[Any]]
# Runs before every handler of a guarded servicer (authz authenticates the caller here); what
# it raises goes through the boundary like the handler's own errors.
BeforeCall = Callable[[Context], Awaitable[None]]
S = TypeVar("S")


@dataclass(frozen=True)
class ErrorBoundary:
    """One service's mapping: its root error class, and what counts as transient."""

    root: type[Exception]
    transient: tuple[type[Exception], ...] = TRANSIENT_DATABASE_ERRORS

    def status_of(self, exc: Exception, method: str = "") -> tuple[grpc.StatusCode, str]:
        """The status and message `exc` answers; logs what the caller is not told."""
        if isinstance(exc, self.root):
            name = getattr(exc, "status", "INTERNAL")
            code = grpc.StatusCode.__members__.get(name)
            if code is None:  # a typo in a domain class must not become UNKNOWN
                log.error("%s: %s declares an unknown status %r", method, type(exc), name)
                return grpc.StatusCode.INTERNAL, "internal error"
            return code, str(exc)
        if isinstance(exc, grpc.aio.AioRpcError):
            code = exc.code()
            log.warning("%s: a call upstream failed: %s %s", method, code.name, exc.details())
            return code, f"a service this one depends on answered {code.name}"
        if isinstance(exc, self.transient):
            log.warning("%s: unavailable (%s)", method, type(exc).__name__)
            return grpc.StatusCode.UNAVAILABLE, "the service is busy: retry"
        log.error("unhandled error in %s", method, exc_info=exc)
        return grpc.StatusCode.INTERNAL, "internal error"

    def unary(self, behavior: Unary, method: str, before: BeforeCall | None = None) -> Unary:
        async def handle(request: Any, context: Context) -> Any:
            try:
                if before is not None:
                    await before(context)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await context.abort(*self.status_of(exc, method))

        return handle

    def streaming(
        self, behavior: Streaming, method: str, before: BeforeCall | None = None
    ) -> Streaming:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                if before is not None:
                    await before(context)
                async for item in behavior(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await context.abort(*self.status_of(exc, method))

        return handle

    def guard_servicer(
        self, servicer: S, service: ServiceDescriptor, before: BeforeCall | None = None
    ) -> S:
        """`servicer` with every RPC of `service` behind the boundary, done once per method
        before it is added to a server. Client streaming is refused: fail closed."""
        for method in service.methods:
            if method.client_streaming:
                raise RuntimeError(f"{method.full_name}: client streaming is not guarded here")
            behavior = getattr(servicer, method.name)
            if method.server_streaming:
                guarded: object = self.streaming(behavior, method.full_name, before)
            else:
                guarded = self.unary(behavior, method.full_name, before)
            setattr(servicer, method.name, guarded)
        return servicer
