"""Publishes outbox rows to Kafka, in order, at least once.

One relay publishes at a time (a PostgreSQL advisory lock per batch), so several replicas can
run for availability without reordering an account's events; rows are locked while a batch is
in flight and marked sent in the same transaction after Kafka acknowledged them (acks=all,
idempotent producer). The relay wakes on NOTIFY, polls slowly as a safety net, backs off while
Kafka is away, and prunes rows sent longer ago than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from libs.outbox.writer import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RELAY_LOCK_ID = 0x6F7574  # one publishing relay at a time keeps per-key order


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    batch_size: int = 500
    poll_interval_s: float = 2.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    retention_s: float = 7 * 24 * 3600.0
    prune_interval_s: float = 300.0
    request_timeout_ms: int = 10000


class Relay:
    def __init__(self, pool: asyncpg.Pool, config: RelayConfig) -> None:
        self.pool = pool
        self.config = config
        self.published = 0
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                request_timeout_ms=self.config.request_timeout_ms,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def publish_batch(self) -> int:
        """Publish up to batch_size pending rows; return how many (0: nothing to do, or another
        relay holds the lock)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload, headers FROM outbox WHERE sent_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.config.batch_size,
            )
            if not rows:
                return 0
            producer = await self._ensure_producer()
            futures = [
                await producer.send(
                    row["topic"],
                    value=row["payload"],
                    key=row["key"],
                    headers=[(k, v.encode()) for k, v in json.loads(row["headers"]).items()],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        self.published += len(rows)
        return len(rows)

    async def prune(self) -> int:
        result = await self.pool.execute(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)",
            self.config.retention_s,
        )
        return int(result.split()[-1])

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled."""
        listener = await self.pool.acquire()
        await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        backoff = self.config.backoff_initial_s
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        try:
            while True:
                self._wake.clear()  # a NOTIFY from here on wakes the wait below
                try:
                    while await self.publish_batch() == self.config.batch_size:
                        pass  # a full batch: there may be more right away
                    backoff = self.config.backoff_initial_s
                    if loop.time() >= next_prune:
                        await self.prune()
                        next_prune = loop.time() + self.config.prune_interval_s
                except (KafkaError, OSError, TimeoutError, asyncpg.PostgresError) as exc:
                    log.warning("outbox relay: %r; retrying in %.1f s", exc, backoff)
                    await self._drop_producer()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_s)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            await self.pool.release(listener)
            await self._drop_producer()
