"""The metrics every gRPC server shares: requests by method and status code, and their latency.

Handlers are measured by wrapping each one once, when it is registered (`instrumented`, used by
serve_grpc), not by a server interceptor: an aio interceptor runs coroutines of its own on every
call, which cost authz a sixth of its unary throughput (see error_boundary). Labels are the
method's service and name and the status code's name: bounded by the .proto files, never by
input (DESIGN section 6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from libs.runtime.call_context import CURRENT_CALL

GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time from the handler's start to its answer, by method.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

Context = grpc.aio.ServicerContext[Any, Any]
_OK = grpc.StatusCode.OK
_UNKNOWN = grpc.StatusCode.UNKNOWN
_CANCELLED = grpc.StatusCode.CANCELLED


class _MethodMetrics:
    """The series of one method, bound once: a call only looks its code up in a dict."""

    def __init__(self, full_method: str) -> None:
        _, service, name = full_method.split("/", 2)
        self.labels = (service, name)
        self.latency = GRPC_LATENCY.labels(service, name)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def done(self, context: Context, started: float, error: BaseException | None) -> None:
        self.latency.observe(time.perf_counter() - started)
        code = context.code()
        if code is None:
            if error is None:
                code = _OK
            elif isinstance(error, asyncio.CancelledError):  # the client went away
                code = _CANCELLED
            else:
                code = _UNKNOWN
        elif not isinstance(code, grpc.StatusCode):  # set as an int by some handlers
            code = next((c for c in grpc.StatusCode if c.value[0] == code), _UNKNOWN)
        handled = self._handled.get(code)
        if handled is None:
            handled = self._handled[code] = GRPC_HANDLED.labels(*self.labels, code.name)
        handled.inc()


def _unary(behavior: Callable[[Any, Context], Awaitable[Any]], method: str) -> Any:
    metrics = _MethodMetrics(method)

    async def handle(request: Any, context: Context) -> Any:
        CURRENT_CALL.set((method, context))
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            metrics.done(context, started, error)

    return handle


def _streaming(behavior: Callable[[Any, Context], AsyncIterator[Any]], method: str) -> Any:
    metrics = _MethodMetrics(method)

    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        CURRENT_CALL.set((method, context))
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            async for item in behavior(request, context):
                yield item
        except BaseException as exc:
            error = exc
            raise
        finally:
            metrics.done(context, started, error)

    return handle


# grpc's handler types (RpcMethodHandler, GenericRpcHandler) are typed for the sync server;
# the aio server takes the same objects with coroutine behaviours, hence Any here.
def instrument_handler(method: str, handler: Any) -> Any:
    """`handler` (of the fully qualified `/service/Method`) measured; client streaming is left
    as it is (no service here has any)."""
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=_unary(handler.unary_unary, method))
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=_streaming(handler.unary_stream, method))
    return handler


class _MeasuredGeneric:
    """A generic handler whose methods are measured, each wrapped once on first use."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._wrapped: dict[str, Any] = {}

    def service(self, handler_call_details: Any) -> Any:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = self.inner.service(handler_call_details)
            if handler is None:  # not ours: nothing kept (callers choose these names)
                return None
            wrapped = self._wrapped[method] = instrument_handler(method, handler)
        return wrapped


class InstrumentedServer:
    """The server as a service's `register` sees it: every method handler added through it is
    measured. Anything else is the server's own."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server: Any = server

    def add_generic_rpc_handlers(self, handlers: Sequence[Any]) -> None:
        self._server.add_generic_rpc_handlers([_MeasuredGeneric(h) for h in handlers])

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        measured = {
            name: instrument_handler(f"/{service}/{name}", h) for name, h in handlers.items()
        }
        self._server.add_registered_method_handlers(service, measured)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)
