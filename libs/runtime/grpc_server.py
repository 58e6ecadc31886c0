"""The gRPC server bootstrap every service starts from: the services `register` adds, health
(every service SERVING once started) and reflection, the port with TLS or mutual TLS from the
settings, and on exit health's graceful shutdown (NOT_SERVING, so load balancers stop sending)
and a stop that gives in-flight calls the grace period.

Every method `register` adds is measured (libs.runtime.metrics: requests by method and code,
latency) and, with tracing on, traced (libs.runtime.tracing); health and reflection are not."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from libs.grpc_tls import add_port, server_credentials
from libs.runtime.metrics import InstrumentedServer
from libs.runtime.settings import GrpcServerSettings
from libs.runtime.tracing import server_interceptors

log = logging.getLogger(__name__)

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# Adds the service's servicers to the server (behind its error boundary) and returns the full
# names of the services it added, for health and reflection.
Register = Callable[[grpc.aio.Server], Iterable[str]]


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    port: int  # the bound port (settings.port 0 picks a free one)
    health: HealthServicer


@contextlib.asynccontextmanager
async def serve_grpc(
    settings: GrpcServerSettings,
    register: Register,
    *,
    label: str,
    options: Sequence[tuple[str, Any]] = (),
) -> AsyncIterator[GrpcServer]:
    """Serve until the block exits. `label` names the service in the log line."""
    credentials = server_credentials(  # a missing key or file fails here, before binding
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    server = grpc.aio.server(options=list(options), interceptors=server_interceptors() or None)
    names = [*register(cast(grpc.aio.Server, InstrumentedServer(server)))]
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names += [HEALTH, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    port = add_port(server, f"{settings.host}:{settings.port}", credentials)
    await server.start()
    try:
        for name in ["", *names]:
            await health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving on %s:%d", label, settings.host, port)
        yield GrpcServer(server, port, health)
    finally:
        await health.enter_graceful_shutdown()
        await server.stop(settings.shutdown_grace_s)
