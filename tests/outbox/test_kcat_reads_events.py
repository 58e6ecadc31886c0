"""A consumer nobody here wrote (kcat, from Debian) reads an event; its bytes decode with the
published .proto."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import admin_token, connect, settings_for
from tests.harness.services import read_topic

pytestmark = pytest.mark.integration


def kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("kcat is not installed (make tools)")
        pytest.skip("kcat is not installed (make tools)")
    return found


async def test_kcat_reads_an_event_that_decodes_with_the_proto(
    database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    settings = settings_for(
        database_url, run_relay=True, kafka_bootstrap_servers=kafka_bootstrap, audit_topic=topic
    )
    async with running_server(settings) as server:
        client = await connect(server, await admin_token(server, "acme", "root"))
        await client.users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account="acme", identifier="alice")),
        )
        await read_topic(kafka_bootstrap, topic, 1, settle_s=0)  # published
        await client.channel.close(None)

    process = await asyncio.create_subprocess_exec(
        kcat(), "-C", "-b", kafka_bootstrap, "-t", topic, "-o", "beginning", "-c", "1", "-e",
        "-q", "-f", "%k\t%h\t%s",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    key, headers, value = out.split(b"\t", 2)
    assert key == b"acme"
    assert b"content-type=application/x-protobuf" in headers
    event = ev.AuditEvent.FromString(value)
    # The first event on the topic: the bootstrap creating the administrator "root".
    assert event.action == ev.ACTION_CREATE
    assert event.resource.type == "USER"
    assert event.resource.identifier == "root"
    assert event.principal.type == ev.PRINCIPAL_TYPE_SYSTEM
    assert event.scope.account == "acme"
    assert '"email"' in event.new_state_json
    assert f"event-id={event.event_id}".encode() in headers
