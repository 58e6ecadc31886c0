"""SCIM's writes in the audit trail: stored as the projector stores them, found by the query
API's module filter, with the service account as principal and no password anywhere."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from pydantic import SecretStr

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from services.audit.event_decoding import record_from_event
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from tests.audit.query_fixtures import store
from tests.scim.helpers import provisioner, scim_server
from tests.security.attackers import outbox_events

pytestmark = pytest.mark.integration

PASSWORD = "never-in-the-trail-7!"


async def test_the_module_filter_finds_every_scim_write(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        sa, token = await provisioner(scim.admin, "a")
        async with scim.client("a", token) as http:
            made = await http.post(
                "/Users",
                json={"userName": "dora@example.com", "password": PASSWORD, "active": True},
            )
            uid = made.json()["id"]
            await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                },
            )
            await http.delete(f"/Users/{uid}")
        settings = AuditSettings(
            database_url=SecretStr(database_url),
            port=0,
            authz_target=f"127.0.0.1:{scim.server.port}",
        )
        async with running_query_server(settings) as query_server:  # migrates the store
            events = await outbox_events(database_url)
            await store(database_url, [record_from_event(e) for e in events])
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{query_server.port}")
            try:
                found = await q_grpc.AuditQueryServiceStub(channel).ListEvents(
                    q.ListEventsRequest(
                        filter=q.EventFilter(
                            scopes=[q.ScopeFilter(scope="a")],
                            preset=q.TIME_PRESET_LAST_24_HOURS,
                            modules=["scim"],
                        ),
                        page_size=100,
                    ),
                    metadata=(("authorization", f"Bearer {scim.admin.token}"),),
                )
            finally:
                await channel.close(None)
    steps = sorted((e.action, e.resource.identifier) for e in found.events)
    assert steps == sorted(
        [(ev.ACTION_CREATE, uid), (ev.ACTION_UPDATE, uid), (ev.ACTION_DELETE, uid)]
    )
    assert {(e.module, e.principal.identifier) for e in found.events} == {("scim", sa)}
    assert {e.principal.type for e in found.events} == {ev.PRINCIPAL_TYPE_SERVICE_ACCOUNT}
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT row_to_json(e)::text AS row FROM audit_events e")
    finally:
        await conn.close()
    assert rows
    assert all(PASSWORD not in r["row"] for r in rows)
