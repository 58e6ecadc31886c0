"""Assembles the audit query gRPC server: store, authz client, servicer, health, reflection."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from libs.events.coalescing import Coalescer
from libs.grpc_tls import add_port, channel_credentials, open_channel, server_credentials
from services.audit.access_control import AuthzClient
from services.audit.denials import DenialRecorder
from services.audit.grpc_api.query_servicer import AuditQueryServicer
from services.audit.settings import AuditSettings
from services.audit.store import repository

log = logging.getLogger(__name__)


@dataclass
class RunningQueryServer:
    server: grpc.aio.Server
    port: int
    pool: asyncpg.Pool


@contextlib.asynccontextmanager
async def running_query_server(settings: AuditSettings) -> AsyncIterator[RunningQueryServer]:
    authz_credentials = channel_credentials(  # configuration errors first, before connecting
        settings.authz_tls_ca_file, settings.authz_tls_cert_file, settings.authz_tls_key_file
    )
    # Fresh plans per query: a cached generic plan ignores how many rows one account and range
    # hold, and turned 1 ms queries into 0.5-0.9 s ones at 10M events (bench/audit_query.py).
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=10,
        server_settings={"plan_cache_mode": "force_custom_plan"},
    )
    authz_channel = open_channel(settings.authz_target, authz_credentials)
    try:
        async with pool.acquire() as conn:
            await repository.migrate_audit(conn)
            await repository.ensure_partitions(
                conn, datetime.now(UTC), settings.partitions_behind, settings.partitions_ahead
            )
        server = grpc.aio.server()
        servicer = AuditQueryServicer(
            pool,
            AuthzClient(authz_channel),
            settings.page_token_key.get_secret_value().encode(),
            settings.retention_days,
            settings.chain_keys(),
            DenialRecorder(
                pool,
                Coalescer(settings.denial_window_s, settings.denials_per_caller),
                settings.topic,
            ),
        )
        q_grpc.add_AuditQueryServiceServicer_to_server(servicer, server)
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = [
            q.DESCRIPTOR.services_by_name["AuditQueryService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, server)
        credentials = server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        port = add_port(server, f"{settings.host}:{settings.port}", credentials)
        await server.start()
        for name in ["", *names[:2]]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("audit query API serving on %s:%d", settings.host, port)
        try:
            yield RunningQueryServer(server, port, pool)
        finally:
            await health_servicer.enter_graceful_shutdown()
            await server.stop(5)
    finally:
        await authz_channel.close(None)
        await pool.close()
