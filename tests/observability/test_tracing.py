"""With tracing on, one trace runs from the RPC that changes something to the outbox write, and
the audit event of that change carries the trace id: in the store and in GetEvent. Spans go to
the SDK's in-memory exporter; authz, its relay, Kafka, the projector and the store are real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from authz.v1 import authz_pb2 as pb
from libs.runtime import tracing
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.authz.server import running_server
from tests.audit.helpers import Workers, wait_rows
from tests.authz.clients import admin_token, connect, settings_for

pytestmark = pytest.mark.integration

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test's servers (the global provider is installed once per process:
    OpenTelemetry allows no other), off again for the servers of later tests."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        tracing._provider = trace.get_tracer_provider()
    else:
        tracing.install_provider("authz-test", SimpleSpanProcessor(EXPORTER))
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        tracing._provider = None


async def test_one_trace_from_the_rpc_to_the_outbox_and_the_event_names_it(
    spans: InMemorySpanExporter,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    unique_name: str,
    tmp_path: Path,
) -> None:
    settings = settings_for(
        database_url, run_relay=True, kafka_bootstrap_servers=kafka_bootstrap, audit_topic=topic
    )
    workers = Workers(kafka_bootstrap, topic, f"g-{unique_name}", database_url, tmp_path, [])
    try:
        async with running_server(settings) as server:
            client = await connect(server, await admin_token(server, "acme", "root"))
            spans.clear()
            await client.roles.CreateRole(
                pb.CreateRoleRequest(
                    role=pb.Role(scope="acme", identifier="deployer", permissions=[])
                )
            )
            workers.start()
            await wait_rows(database_url, 4, workers)  # the bootstrap's 3, then the role
            conn = await asyncpg.connect(database_url)
            try:
                row = await conn.fetchrow(
                    "SELECT event_id, trace_id FROM audit_events WHERE resource_type = 'ROLE'"
                )
            finally:
                await conn.close()
            assert row is not None
            audit_settings = AuditSettings(
                database_url=SecretStr(database_url),
                port=0,
                authz_target=f"127.0.0.1:{server.port}",
            )
            async with (
                running_query_server(audit_settings) as query_server,
                grpc.aio.insecure_channel(f"127.0.0.1:{query_server.port}") as channel,
            ):
                answer = await q_grpc.AuditQueryServiceStub(channel).GetEvent(
                    q.GetEventRequest(event_id=str(row["event_id"])),
                    metadata=(("authorization", f"Bearer {client.token}"),),
                )
            await client.channel.close(None)
    finally:
        workers.stop_all()

    finished = spans.get_finished_spans()
    [rpc] = [s for s in finished if s.name == "/authz.v1.RoleService/CreateRole"]
    [insert] = [s for s in finished if s.name == "outbox.insert"]
    assert rpc.context is not None
    assert insert.context is not None
    assert insert.context.trace_id == rpc.context.trace_id  # one trace
    assert insert.parent is not None
    assert insert.parent.span_id == rpc.context.span_id
    assert insert.attributes is not None
    assert insert.attributes["messaging.destination.name"] == topic
    trace_id = trace.format_trace_id(rpc.context.trace_id)
    assert row["trace_id"] == trace_id  # the audit record links to the trace
    assert answer.event.trace_id == trace_id  # and GetEvent shows it
