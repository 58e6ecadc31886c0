"""The faust-streaming projector: audit.events.v1 -> audit_events, batch by batch.

The agent is thin: decode and validate each event, write the batch in one transaction, retry a
database error until it succeeds. Faust acknowledges a batch's offsets only when the loop body
returns, i.e. after the commit; an exception would ack it anyway, so nothing here raises."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import faust

from services.audit.domain.records import AuditRecord, InvalidEvent, record_from_bytes
from services.audit.settings import AuditSettings
from services.audit.store import repository
from services.audit.store.repository import DeadLetter

log = logging.getLogger(__name__)

RETRYABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class Projector:
    """Everything the agent does, apart from faust itself."""

    def __init__(self, settings: AuditSettings, dead_letter_topic: Any) -> None:
        self.settings = settings
        self.keys = settings.chain_keys()
        self.dead_letter_topic = dead_letter_topic
        self.pool: asyncpg.Pool | None = None
        self.stored = 0
        self.dead = 0

    async def _pool(self) -> asyncpg.Pool:
        while self.pool is None:
            try:
                pool = await asyncpg.create_pool(
                    self.settings.database_url.get_secret_value(), min_size=1, max_size=3
                )
                async with pool.acquire() as conn:
                    await repository.migrate_audit(conn)
                    await repository.ensure_partitions(
                        conn,
                        datetime.now(UTC),
                        self.settings.partitions_behind,
                        self.settings.partitions_ahead,
                    )
                self.pool = pool
            except RETRYABLE as exc:
                log.warning("database not ready: %r; retrying", exc)
                await asyncio.sleep(1.0)
        return self.pool

    def split(self, events: Sequence[Any]) -> tuple[list[AuditRecord], list[DeadLetter]]:
        records, dead = [], []
        for event in events:
            message = event.message
            try:
                records.append(record_from_bytes(event.value or b""))
            except InvalidEvent as exc:
                dead.append(
                    DeadLetter(
                        message.topic, message.partition, message.offset, event.key,
                        event.value or b"", str(exc),
                    )
                )  # fmt: skip
        return records, dead

    async def handle(self, events: Sequence[Any]) -> None:
        records, dead = self.split(events)
        for letter in dead:
            log.warning(
                "dead letter %s[%d]@%d: %s",
                letter.topic,
                letter.partition,
                letter.offset,
                letter.reason,
            )
            await self.dead_letter_topic.send(
                key=letter.key,
                value=letter.payload,
                headers={
                    "reason": letter.reason.encode(),
                    "source-offset": str(letter.offset).encode(),
                },
            )
        delay = 0.1
        while True:
            pool = await self._pool()
            try:
                async with pool.acquire() as conn:
                    self.stored += await repository.write_batch(conn, records, dead, self.keys)
                self.dead += len(dead)
                return
            except RETRYABLE as exc:
                log.warning("writing a batch failed: %r; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def maintain(self) -> None:
        pool = await self._pool()
        now = datetime.now(UTC)
        try:
            async with pool.acquire() as conn:
                await repository.ensure_partitions(
                    conn, now, self.settings.partitions_behind, self.settings.partitions_ahead
                )
                await repository.drop_expired(conn, now, self.settings.retention_days)
        except RETRYABLE as exc:
            log.warning("partition maintenance failed: %r; next time", exc)


def create_app(settings: AuditSettings) -> faust.App:
    app = faust.App(
        settings.group_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        datadir=settings.datadir,
        store="memory://",
        web_enabled=False,
        topic_replication_factor=1,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 0.5),
        key_serializer="raw",
        value_serializer="raw",
    )
    topic = app.topic(settings.topic, key_type=bytes, value_type=bytes)
    dead_letter_topic = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes)
    projector = Projector(settings, dead_letter_topic)
    app.projector = projector  # type: ignore[attr-defined]

    @app.agent(topic, concurrency=1)
    async def project(stream: faust.StreamT[Any]) -> None:
        # take_events is on faust.Stream but missing from the StreamT interface.
        async for events in stream.take_events(  # type: ignore[attr-defined]
            settings.batch_size, within=settings.batch_within_s
        ):
            await projector.handle(events)

    @app.timer(interval=settings.maintenance_interval_s)  # type: ignore[untyped-decorator]
    async def maintain() -> None:
        await projector.maintain()

    return app
