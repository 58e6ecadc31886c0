"""The relay sets aside a row Kafka refuses for good and publishes the rows after it; its health
shows the age of the oldest unsent row."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from libs.outbox.relay import Relay, RelayConfig, relay_health
from libs.outbox.writer import add_to_outbox
from tests.harness.endpoints import ROOT
from tests.harness.health import health
from tests.harness.services import free_port, read_topic
from tests.outbox.helpers import fill_outbox

pytestmark = pytest.mark.integration


async def add_raw(database_url: str, topic: str, payload: bytes) -> str:
    event_id = str(uuid.uuid4())
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            await add_to_outbox(conn, event_id=event_id, topic=topic, key=b"acct0", payload=payload)
    finally:
        await conn.close()
    return event_id


async def test_rows_kafka_refuses_are_set_aside_and_the_rest_published(
    database_url: str, kafka_bootstrap: str, unique_name: str
) -> None:
    topic = f"small-{unique_name}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # the broker refuses past 8 kB, the relay's own limit is 1 MB
        await admin.create_topics(
            [NewTopic(topic, 2, 1, topic_configs={"max.message.bytes": "8000"})]
        )
    finally:
        await admin.close()
    payloads = await fill_outbox(database_url, topic, 100)
    broker_refuses = await add_raw(database_url, topic, os.urandom(12_000))
    payloads |= await fill_outbox(database_url, topic, 100)
    relay_refuses = await add_raw(database_url, topic, os.urandom(2_000_000))
    payloads |= await fill_outbox(database_url, topic, 100)

    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=3)
    relay = Relay(pool, RelayConfig(bootstrap_servers=kafka_bootstrap, batch_size=50))
    task = asyncio.create_task(relay.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"
        ):
            assert not task.done(), task
            assert loop.time() < deadline, "rows stayed pending"
            await asyncio.sleep(0.1)
        dead = {
            str(r["event_id"]): r["dead_reason"]
            for r in await pool.fetch(
                "SELECT event_id, dead_reason FROM outbox WHERE dead_at IS NOT NULL"
            )
        }
        healthy, report = await relay.health(max_age_s=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
    assert set(dead) == {broker_refuses, relay_refuses}
    assert all("TooLarge" in reason for reason in dead.values())
    assert healthy
    assert report["dead_rows"] == 2
    records = await read_topic(kafka_bootstrap, topic, len(payloads), timeout_s=60)
    assert sorted(r.value for r in records) == sorted(payloads.values())


def test_relay_health_is_the_age_of_the_oldest_unsent_row() -> None:
    assert relay_health(None, 0, 30)[0]
    assert relay_health(29.0, 3, 30)[0]
    healthy, report = relay_health(31.0, 0, 30)
    assert not healthy
    assert report["status"] == "stalled"


async def wait_health(port: int, status: int, relay: subprocess.Popen[bytes]) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (got := await asyncio.to_thread(health, port))[0] != status:
        assert relay.poll() is None, "the relay exited"
        assert loop.time() < deadline, f"health stayed {got}, expected {status}"
        await asyncio.sleep(0.3)
    return got[1]


def start_relay(database_url: str, bootstrap: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OUTBOX_DATABASE_URL": database_url,
        "OUTBOX_BOOTSTRAP_SERVERS": bootstrap,
        "OUTBOX_HEALTH_PORT": str(port),
        "OUTBOX_HEALTH_MAX_AGE_S": "2",
        "OUTBOX_DECLARE_TOPICS": "[]",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "libs.outbox"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_the_standalone_relay_reports_a_stall_over_http(
    database_url: str, kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    await fill_outbox(database_url, topic, 50)
    port = free_port()
    nowhere = f"127.0.0.1:{free_port()}"  # no broker: nothing can be published
    relay = start_relay(database_url, nowhere, port, tmp_path / "relay.log")
    try:
        report = await wait_health(port, 503, relay)
        assert isinstance(report["oldest_unsent_age_s"], float)
        assert report["oldest_unsent_age_s"] > 2
    finally:
        relay.terminate()
        relay.wait(10)
    relay = start_relay(database_url, kafka_bootstrap, port, tmp_path / "relay.log")
    try:
        report = await wait_health(port, 200, relay)
    finally:
        relay.terminate()
        relay.wait(10)
    assert report["oldest_unsent_age_s"] is None
