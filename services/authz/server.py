"""Assembles the authz gRPC server: store, policy state, servicers; health, reflection, TLS and
shutdown come from libs.runtime.grpc_server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
from grpc_health.v1._async import HealthServicer

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.outbox.relay import Relay, RelayConfig
from libs.runtime.call_origin import parse_networks
from libs.runtime.grpc_server import serve_grpc
from services.authz.access import Access
from services.authz.api_keys import ApiKeys
from services.authz.audit_events import OutboxEvents
from services.authz.authentication import Authenticator
from services.authz.governance.dry_run import DryRun
from services.authz.governance.gate import Gate
from services.authz.governance.opa_client import OpaClient, OpaUnavailable
from services.authz.grpc_api import invitation_servicer
from services.authz.grpc_api.access_servicer import AccessServicer
from services.authz.grpc_api.api_key_servicer import ApiKeyServicer
from services.authz.grpc_api.batch_check_wire import add_access_service
from services.authz.grpc_api.errors import authenticated
from services.authz.grpc_api.governance_servicer import add_governance_service
from services.authz.grpc_api.management_servicers import add_management_services
from services.authz.guard import Guard
from services.authz.invitations import Invitations, invitations_of, sweep_expired
from services.authz.management import Management
from services.authz.management.operation_access import OperationAccess
from services.authz.policy_state import PolicyState, follow_policy_log
from services.authz.settings import AuthzSettings
from services.authz.store.connections import Connections, session_settings
from services.authz.store.schema import migrate_authz
from services.scim.server import serving_scim

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    state: PolicyState
    health: HealthServicer
    management: Management
    invitations: Invitations
    scim_port: int | None = None  # settings.scim_port as bound; None: SCIM is off


def _service(name: str) -> str:
    return pb.DESCRIPTOR.services_by_name[name].full_name


async def _refill(gate: Gate, db: Connections) -> None:
    try:
        log.info("governance: %d policies pushed to OPA", await gate.refill(db))
    except OpaUnavailable as e:
        log.warning("governance: OPA not reachable at start-up (%s)", e)
    except Exception:  # a background task: its failure is logged, never lost
        log.warning("governance: filling OPA at start-up failed", exc_info=True)


@contextlib.asynccontextmanager
async def running_server(settings: AuthzSettings) -> AsyncIterator[RunningServer]:
    """Migrate, load the policy, serve; on exit drain in-flight calls and close."""
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=2,
        max_size=settings.pool_size,
        server_settings=session_settings(settings.statement_timeout_ms, settings.lock_timeout_ms),
    )
    background: list[asyncio.Task[None]] = []
    opa = OpaClient(settings.opa_url, settings.opa_timeout_s)
    try:
        db = Connections(pool, settings.pool_acquire_timeout_s)
        state = PolicyState()
        events = OutboxEvents(settings.audit_topic)
        authenticator = Authenticator(db, settings.token_cache_s)
        guard = Guard(state, db, events)
        gate = Gate(opa)
        management = Management(db, state, events, guard, authenticator.forget, gate)
        invitations = invitations_of(settings, management)
        proxies = parse_networks(settings.trusted_proxies)
        async with pool.acquire() as conn:
            await migrate_authz(conn)
            await state.load(conn)
        await management.sync_managed_lines()

        def register(server: grpc.aio.Server) -> list[str]:
            access = AccessServicer(
                Access(state), guard, management.reads, settings.max_revision_wait_s
            )
            add_access_service(
                authenticated(access, "AccessService", authenticator, proxies), server
            )
            names = [_service("AccessService")]
            names += add_management_services(server, management, authenticator, proxies)
            api_keys = ApiKeyServicer(ApiKeys(management.writer, guard, authenticator.forget))
            pb_grpc.add_ApiKeyServiceServicer_to_server(
                authenticated(api_keys, "ApiKeyService", authenticator, proxies), server
            )
            dry_run = DryRun(db, OperationAccess(guard), gate)
            names.append(
                add_governance_service(server, management, dry_run, authenticator, proxies)
            )
            names.append(_service("ApiKeyService"))
            return [
                *names,
                invitation_servicer.register(server, invitations, authenticator, proxies),
            ]

        background.append(
            asyncio.create_task(follow_policy_log(pool, state, settings.poll_interval_s))
        )
        background.append(
            asyncio.create_task(sweep_expired(invitations, settings.invitation_sweep_s))
        )
        # OPA keeps nothing: fill it from the store, beside serving (an evaluation pushes any
        # version it finds missing, so nothing waits for this).
        background.append(asyncio.create_task(_refill(gate, db)))
        if settings.run_relay:
            relay = Relay(
                pool,
                RelayConfig(
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    declare=(settings.audit_topic, settings.notifications_topic),
                ),
            )
            background.append(asyncio.create_task(relay.run()))
        async with (
            serve_grpc(
                settings,
                register,
                label="authz",
                # Workers share the port; a lone server must not silently share it with another.
                options=[("grpc.so_reuseport", int(settings.workers > 1))],
            ) as grpc_server,
            contextlib.AsyncExitStack() as extra,
        ):
            scim_port = None
            if settings.scim_port >= 0:
                scim_port = await extra.enter_async_context(
                    serving_scim(
                        management, authenticator, proxies, settings.scim_host, settings.scim_port
                    )
                )
            yield RunningServer(
                grpc_server.server,
                grpc_server.port,
                state,
                grpc_server.health,
                management,
                invitations,
                scim_port,
            )
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await pool.close()
        await opa.close()
