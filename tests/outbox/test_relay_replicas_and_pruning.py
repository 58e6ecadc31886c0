"""Several relays share one outbox without publishing a row twice; sent rows are pruned."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from libs.events import codec
from libs.outbox.relay import Relay, RelayConfig
from tests.harness.services import read_topic
from tests.outbox.helpers import fill_outbox

pytestmark = pytest.mark.integration


async def test_two_relays_publish_every_row_once(
    database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    payloads = await fill_outbox(database_url, topic, 2000)
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=6)
    config = RelayConfig(bootstrap_servers=kafka_bootstrap, batch_size=100, poll_interval_s=0.2)
    relays = [Relay(pool, config), Relay(pool, config)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        records = await read_topic(kafka_bootstrap, topic, len(payloads), settle_s=2)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pool.close()
    ids = [codec.decode(r.value).event_id for r in records]
    assert sorted(ids) == sorted(payloads)  # all of them, none twice
    assert sum(r.published for r in relays) == len(payloads)


async def test_prune_drops_only_rows_sent_before_the_retention(
    database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    await fill_outbox(database_url, topic, 3)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        ids = [r["id"] for r in await pool.fetch("SELECT id FROM outbox ORDER BY id")]
        await pool.execute(
            "UPDATE outbox SET sent_at = now() - interval '2 hours' WHERE id = $1", ids[0]
        )
        await pool.execute("UPDATE outbox SET sent_at = now() WHERE id = $1", ids[1])
        relay = Relay(pool, RelayConfig(bootstrap_servers=kafka_bootstrap, retention_s=3600))
        assert await relay.prune() == 1
        left = [r["id"] for r in await pool.fetch("SELECT id FROM outbox ORDER BY id")]
        assert left == ids[1:]  # the recent sent row and the pending one stay
    finally:
        await pool.close()
