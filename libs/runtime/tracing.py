"""OpenTelemetry traces: off unless a service's `<PREFIX>_OTLP_ENDPOINT` is set, then exported
over OTLP/gRPC in batches (the standard OTEL_EXPORTER_OTLP_* variables for headers, timeouts and
certificates apply too). With tracing on, every gRPC server gets the OpenTelemetry server
interceptor, so an RPC is a span; code below it opens child spans (the outbox insert) and the
audit event records the trace id (`AuditEvent.trace_id`). Off, nothing is installed: the API's
no-op tracer costs a function call."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

TRACER = trace.get_tracer("authz-audit")
_provider: Any = None  # the SDK provider this process installed, if any


def configure_tracing(service_name: str, otlp_endpoint: str) -> bool:
    """Export spans to `otlp_endpoint` (e.g. http://127.0.0.1:4317); '' leaves tracing off.
    Returns whether it is on."""
    if not otlp_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    install_provider(service_name, BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    log.info("tracing: spans exported over OTLP to %s", otlp_endpoint)
    return True


def install_provider(service_name: str, processor: Any) -> Any:
    """Install an SDK tracer provider with `processor` (tests pass an in-memory exporter's)."""
    global _provider
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def server_interceptors() -> list[Any]:
    """The OpenTelemetry gRPC server interceptor when tracing is on, else none (no cost)."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=_provider)]  # type: ignore[no-untyped-call]


def current_trace_id() -> str:
    """The trace id of the span in progress, 32 hex digits; '' outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else ""


def shutdown_tracing() -> None:
    """Flush the spans still in the batch (on exit)."""
    if _provider is not None:
        _provider.shutdown()
