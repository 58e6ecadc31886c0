"""Assembles the audit query gRPC server: store, authz client, the use cases of query_service/,
the servicer over them behind the error boundary; health, reflection, TLS and shutdown come
from libs.runtime.grpc_server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import grpc

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from libs.events.coalescing import Coalescer
from libs.runtime.authz_channel import authz_channel
from libs.runtime.grpc_server import serve_grpc
from services.audit.access_control import AuthzClient
from services.audit.denials import DenialRecorder
from services.audit.grpc_api.errors import AUDIT_ERRORS
from services.audit.grpc_api.query_servicer import AuditQueryServicer
from services.audit.query_service.access import ViewAccess
from services.audit.query_service.chain_checks import ChainChecks
from services.audit.query_service.events import EventQueries
from services.audit.query_service.saved_filters import SavedFilters
from services.audit.settings import AuditSettings
from services.audit.store import repository
from services.audit.store.query_store import QueryStore

QUERY_SERVICE = q.DESCRIPTOR.services_by_name["AuditQueryService"]


@dataclass
class RunningQueryServer:
    server: grpc.aio.Server
    port: int
    pool: asyncpg.Pool


@contextlib.asynccontextmanager
async def running_query_server(settings: AuditSettings) -> AsyncIterator[RunningQueryServer]:
    async with contextlib.AsyncExitStack() as stack:
        channel = authz_channel(settings)  # configuration errors first, before connecting
        stack.push_async_callback(channel.close, None)
        # Fresh plans per query: a cached generic plan ignores how many rows one account and
        # range hold, and turned 1 ms queries into 0.5-0.9 s ones at 10M events
        # (bench/audit_query.py).
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=1,
            max_size=10,
            server_settings={"plan_cache_mode": "force_custom_plan"},
        )
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            await repository.migrate_audit(conn)
            await repository.ensure_partitions(
                conn, datetime.now(UTC), settings.partitions_behind, settings.partitions_ahead
            )

        def register(server: grpc.aio.Server) -> list[str]:
            store = QueryStore(pool)
            denials = DenialRecorder(
                pool,
                Coalescer(settings.denial_window_s, settings.denials_per_caller),
                settings.topic,
            )
            access = ViewAccess(AuthzClient(channel), denials)
            page_key = settings.page_token_key.get_secret_value().encode()
            servicer = AuditQueryServicer(
                EventQueries(store, access, page_key, settings.retention_days),
                SavedFilters(store, access, page_key, settings.retention_days),
                ChainChecks(store, access, settings.chain_keys()),
            )
            guarded = AUDIT_ERRORS.guard_servicer(servicer, QUERY_SERVICE)
            q_grpc.add_AuditQueryServiceServicer_to_server(guarded, server)
            return [QUERY_SERVICE.full_name]

        async with serve_grpc(settings, register, label="audit query API") as grpc_server:
            yield RunningQueryServer(grpc_server.server, grpc_server.port, pool)
