"""A mutation made through authz appears in audit_events: authz, its outbox relay, Kafka, the
faust projector and the store, all real."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.audit.helpers import Workers, wait_rows
from tests.authz.clients import admin_token, connect, settings_for

pytestmark = pytest.mark.integration


async def test_an_authz_mutation_lands_in_the_audit_store(
    database_url: str, kafka_bootstrap: str, topic: str, unique_name: str, tmp_path: Path
) -> None:
    settings = settings_for(
        database_url, run_relay=True, kafka_bootstrap_servers=kafka_bootstrap, audit_topic=topic
    )
    workers = Workers(kafka_bootstrap, topic, f"g-{unique_name}", database_url, tmp_path, [])
    try:
        async with running_server(settings) as server:
            client = await connect(server, await admin_token(server, "acme", "root"))
            created = await client.roles.CreateRole(
                pb.CreateRoleRequest(
                    role=pb.Role(
                        scope="acme/web",
                        identifier="deployer",
                        permissions=["core_pipeline_execute"],
                    )
                ),
                metadata=(("x-request-id", "e2e-1"),),
            )
            workers.start()
            await wait_rows(database_url, 4, workers)  # the bootstrap's 3, then the role
            await client.channel.close(None)
    finally:
        workers.stop_all()
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM audit_events WHERE resource_type = 'ROLE'")
    finally:
        await conn.close()
    assert row is not None
    assert (row["account"], row["organization"], row["project"]) == ("acme", "web", "")
    assert (row["action"], row["resource_type"], row["resource_id"]) == (
        "CREATE",
        "ROLE",
        "deployer",
    )
    assert (row["principal_type"], row["principal_id"]) == ("USER", "root")
    assert row["request_id"] == "e2e-1"
    assert row["policy_revision"] == created.revision
    assert json.loads(row["new_state"])["permissions"] == ["core_pipeline_execute"]
    assert row["chain_seq"] == 4
