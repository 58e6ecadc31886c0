"""The relay against a broker that goes away and a relay that dies: nothing lost, nothing
invented, order kept per account."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from libs.events import codec
from libs.outbox.relay import Relay, RelayConfig
from services.authz.server import running_server
from tests.authz.clients import admin_token, connect, settings_for
from tests.harness.endpoints import ROOT
from tests.harness.services import own_broker, read_topic
from tests.outbox.helpers import ACCOUNTS, fill_outbox

pytestmark = pytest.mark.integration


async def test_mutations_while_the_broker_is_down_all_arrive_in_order(
    database_url: str, tmp_path: Path, unique_name: str
) -> None:
    topic = f"events-{unique_name}"
    with own_broker(tmp_path) as broker:
        settings = settings_for(
            database_url,
            run_relay=True,
            kafka_bootstrap_servers=broker.bootstrap,
            audit_topic=topic,
        )
        async with running_server(settings) as server:
            clients = {a: await connect(server, await admin_token(server, a)) for a in ACCOUNTS}
            await read_topic(broker.bootstrap, topic, 3 * len(ACCOUNTS), settle_s=0)
            broker.stop()
            for i in range(500):
                account = ACCOUNTS[i % len(ACCOUNTS)]
                await clients[account].users.CreateUser(
                    pb.CreateUserRequest(user=pb.User(account=account, identifier=f"u{i:03d}"))
                )
            broker.start()
            everything = await read_topic(broker.bootstrap, topic, 515, timeout_s=120)
            for client in clients.values():
                await client.channel.close(None)
    # Each account's bootstrap wrote 3 events (as SYSTEM) before the broker stopped.
    records = [
        r for r in everything if codec.decode(r.value).principal.type != ev.PRINCIPAL_TYPE_SYSTEM
    ]

    events = [codec.decode(r.value) for r in records]
    ids = [e.event_id for e in events]
    assert len(ids) == 500, f"{len(ids)} events arrived"
    assert len(set(ids)) == 500
    per_account: dict[str, list[str]] = defaultdict(list)
    for record, event in zip(records, events, strict=True):
        assert record.key == event.scope.account.encode()
        per_account[event.scope.account].append(event.resource.identifier)
    for i, account in enumerate(ACCOUNTS):
        assert per_account[account] == [f"u{n:03d}" for n in range(i, 500, len(ACCOUNTS))]


async def sent_count(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"))
    finally:
        await conn.close()


def start_relay(database_url: str, bootstrap: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OUTBOX_DATABASE_URL": database_url,
        "OUTBOX_BOOTSTRAP_SERVERS": bootstrap,
        "OUTBOX_BATCH_SIZE": "50",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "libs.outbox"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_sent(database_url: str, at_least: int, relay: subprocess.Popen[bytes]) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while (sent := await sent_count(database_url)) < at_least:
        assert relay.poll() is None, "the relay exited"
        assert loop.time() < deadline, f"only {sent} of {at_least} sent"
        await asyncio.sleep(0.02)
    return sent


async def test_relay_killed_mid_publish_loses_nothing(
    database_url: str, kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    total = 5000
    payloads = await fill_outbox(database_url, topic, total)
    relay = start_relay(database_url, kafka_bootstrap, tmp_path / "relay.log")
    try:
        at_kill = await wait_sent(database_url, 500, relay)
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
        assert at_kill < total, "the relay finished before it could be killed"
        relay = start_relay(database_url, kafka_bootstrap, tmp_path / "relay.log")
        await wait_sent(database_url, total, relay)
    finally:
        relay.terminate()
        relay.wait(10)

    records = await read_topic(kafka_bootstrap, topic, total, timeout_s=60)
    seen = [codec.decode(r.value).event_id for r in records]
    assert set(seen) == set(payloads), "lost or invented events"
    for record in records:  # a repeat is the same event, byte for byte
        assert record.value == payloads[codec.decode(record.value).event_id]


async def test_a_batch_that_waits_for_the_broker_outlives_the_idle_transaction_limit(
    database_url: str, tmp_path: Path, unique_name: str
) -> None:
    """Kafka's wait happens inside the batch's transaction. A pool whose sessions end after 1 s
    idle in a transaction (authz's are cut after 30 s) must not end it: the rows Kafka took
    would stay unmarked and be sent again."""
    topic = f"events-{unique_name}"
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=2,
        server_settings={"idle_in_transaction_session_timeout": "1000"},
    )
    with own_broker(tmp_path) as broker:
        relay = Relay(
            pool, RelayConfig(bootstrap_servers=broker.bootstrap, request_timeout_ms=60000)
        )
        try:
            await fill_outbox(database_url, topic, 1)
            assert await relay.publish_batch() == 1  # the producer knows the topic's leader
            broker.stop()
            payloads = await fill_outbox(database_url, topic, 20)
            batch = asyncio.create_task(relay.publish_batch())
            await asyncio.to_thread(broker.start)  # seconds, well past the 1 s limit
            assert await batch == 20
            assert await relay.publish_batch() == 0  # nothing left to send again
            records = await read_topic(broker.bootstrap, topic, 21, timeout_s=60)
        finally:
            await relay.close()
            await pool.close()
    arrived = [codec.decode(r.value).event_id for r in records]
    assert len(arrived) == 21
    assert set(payloads) <= set(arrived)
