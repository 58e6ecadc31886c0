"""A faust-streaming worker for the smoke test: topic -> PostgreSQL, batch by batch.

Each batch is written in one transaction; faust acknowledges the batch's offsets only after the
loop body returns, i.e. after the commit. A database error is retried here, never skipped,
because faust would ack an event whose agent raised.

Run: SMOKE_BROKER=... SMOKE_TOPIC=... SMOKE_GROUP=... SMOKE_DSN=... SMOKE_DATADIR=... \
     python -m tests.foundation.smoke_worker worker --without-web
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

import asyncpg
import faust

log = logging.getLogger(__name__)

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS smoke_records (
    record_id text PRIMARY KEY,
    payload bytea NOT NULL,
    kafka_partition int NOT NULL,
    kafka_offset bigint NOT NULL
)
"""
INSERT = """
INSERT INTO smoke_records (record_id, payload, kafka_partition, kafka_offset)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::int[], $4::bigint[])
ON CONFLICT (record_id) DO NOTHING
"""

app = faust.App(
    os.environ["SMOKE_GROUP"],
    broker=f"kafka://{os.environ['SMOKE_BROKER']}",
    datadir=os.environ["SMOKE_DATADIR"],
    store="memory://",
    web_enabled=False,
    topic_replication_factor=1,
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.5,
    # A SIGKILLed member holds its partitions until its session expires: keep that short.
    broker_session_timeout=6,
    broker_heartbeat_interval=1,
    key_serializer="raw",
    value_serializer="raw",
)
records = app.topic(os.environ["SMOKE_TOPIC"], key_type=bytes, value_type=bytes)


async def write_batch(pool: asyncpg.Pool, events: Sequence[Any]) -> None:
    columns: tuple[list[Any], ...] = ([], [], [], [])
    for event in events:
        columns[0].append(event.key.decode())
        columns[1].append(event.value)
        columns[2].append(event.message.partition)
        columns[3].append(event.message.offset)
    delay = 0.1
    while True:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(INSERT, *columns)
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("batch write failed, retrying in %.1f s: %r", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


@app.agent(records, concurrency=1)
async def store(stream: faust.StreamT[Any]) -> None:
    pool = await asyncpg.create_pool(os.environ["SMOKE_DSN"], min_size=1, max_size=2)
    async with pool.acquire() as conn:
        await conn.execute(CREATE_TABLE)
    # take_events is on faust.Stream but missing from the StreamT interface.
    async for events in stream.take_events(200, within=0.2):  # type: ignore[attr-defined]
        await write_batch(pool, events)


if __name__ == "__main__":
    app.main()
