"""Publishes outbox rows to Kafka, in order, at least once.

One relay publishes at a time (a PostgreSQL advisory lock per batch), so several replicas can
run for availability without reordering an account's events; rows are locked while a batch is
in flight and marked sent in the same transaction after Kafka acknowledged them (acks=all,
idempotent producer). The relay wakes on NOTIFY (listening again if that connection is lost),
polls slowly as a safety net, backs off while Kafka is away, and prunes rows sent longer ago
than the retention. A topic is declared (libs/events/topics.py) before the first row for it is
sent. A row Kafka refuses for good (too large, an invalid topic) is marked dead with the reason
and the rows after it go on; it is never retried. A row marked erase_when_sent (a secret inside)
has its payload blanked in the transaction that marks it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnsupportedForMessageFormatError,
)
from asyncpg.pool import PoolConnectionProxy

from libs.events.topics import TopicSettings, ensure_topics, spec_for
from libs.outbox import metrics
from libs.outbox.writer import NOTIFY_CHANNEL
from libs.pg_connections import connection_lost

log = logging.getLogger(__name__)
# aiokafka's producer logs each record's bytes at DEBUG, and outbox records may hold a secret
# (an invitation notification): whatever the log level, those lines are never written.
logging.getLogger("aiokafka.producer.producer").setLevel(logging.INFO)

RELAY_LOCK_ID = 0x6F7574  # one publishing relay at a time keeps per-key order

# The same record would be refused again: retrying it would block every later row forever.
REFUSED_FOR_GOOD = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    UnsupportedForMessageFormatError,
)


@dataclass(frozen=True)
class RelayConfig:
    bootstrap_servers: str
    batch_size: int = 500
    poll_interval_s: float = 2.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 2.0  # also how long a trail can lag behind a broker that is back
    retention_s: float = 7 * 24 * 3600.0
    prune_interval_s: float = 300.0
    request_timeout_ms: int = 10000
    kafka_wait_s: float = 30.0  # the longest a batch waits for Kafka before it is tried again
    declare: tuple[str, ...] = ()  # topics ensured at start (others before their first row)
    topics: TopicSettings = field(default_factory=TopicSettings)


@dataclass(frozen=True)
class Outcome:
    sent: list[int]
    dead: list[tuple[int, str, str]]  # id, event id, reason
    transient: BaseException | None  # the rows neither sent nor dead are tried again


def relay_health(
    oldest_unsent_s: float | None, dead: int, max_age_s: float
) -> tuple[bool, dict[str, object]]:
    """Healthy while no publishable row waited longer than max_age_s."""
    healthy = oldest_unsent_s is None or oldest_unsent_s <= max_age_s
    return healthy, {
        "status": "ok" if healthy else "stalled",
        "oldest_unsent_age_s": None if oldest_unsent_s is None else round(oldest_unsent_s, 1),
        "dead_rows": dead,
        "max_age_s": max_age_s,
    }


class Relay:
    def __init__(self, pool: asyncpg.Pool, config: RelayConfig) -> None:
        self.pool = pool
        self.config = config
        self.published = 0
        self.dead = 0
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._declared: set[str] = set()
        self._listener: PoolConnectionProxy | None = None
        self._next_sample = 0.0

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.config.bootstrap_servers,
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                request_timeout_ms=self.config.request_timeout_ms,
                # Refused here rather than by the broker, where it would fail its whole batch.
                max_request_size=self.config.topics.max_message_bytes,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        """Stop the Kafka producer; a later batch starts a new one."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def declare(self, topics: set[str] | tuple[str, ...]) -> None:
        missing = sorted(set(topics) - self._declared)
        if missing:
            await ensure_topics(
                self.config.bootstrap_servers,
                [spec_for(name, self.config.topics) for name in missing],
                deadline_s=self.config.request_timeout_ms / 1000,
            )
            self._declared.update(missing)

    async def _send(self, rows: list[asyncpg.Record]) -> Outcome:
        producer = await self._ensure_producer()
        pending: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
        sent: list[int] = []
        dead: list[tuple[int, str, str]] = []
        transient: BaseException | None = None
        alone: list[asyncpg.Record] = []

        def settle(row: asyncpg.Record, error: BaseException | None) -> None:
            nonlocal transient
            if error is None:
                sent.append(row["id"])
            elif isinstance(error, REFUSED_FOR_GOOD):
                dead.append((row["id"], str(row["event_id"]), f"{type(error).__name__}: {error}"))
            elif transient is None:
                transient = error

        for row in rows:
            try:
                pending.append((row, await self._send_one(producer, row)))
            except KafkaError as exc:  # refused before it left: this row's own fault
                settle(row, exc)
                if transient is not None:
                    break  # the broker is away: the rest waits for the next attempt
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        for (row, _), result in zip(pending, results, strict=True):
            if isinstance(result, REFUSED_FOR_GOOD):
                alone.append(row)  # the broker refuses whole batches: find the culprit
            else:
                settle(row, result if isinstance(result, BaseException) else None)
        for row in alone:
            if transient is not None:
                break
            try:
                await (await self._send_one(producer, row))
                settle(row, None)
            except KafkaError as exc:
                settle(row, exc)
        return Outcome(sent, dead, transient)

    @staticmethod
    async def _send_one(producer: AIOKafkaProducer, row: asyncpg.Record) -> asyncio.Future[object]:
        future: asyncio.Future[object] = await producer.send(
            row["topic"],
            value=row["payload"],
            key=row["key"],
            headers=[(k, v.encode()) for k, v in json.loads(row["headers"]).items()],
        )
        return future

    async def publish_batch(self) -> int:
        """Publish up to batch_size pending rows; return how many were settled, sent or dead
        (0: nothing to do, or another relay holds the lock). A transient failure is raised
        after the rows that did get through are recorded."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID):
                return 0
            rows = await conn.fetch(
                "SELECT id, event_id, topic, key, payload, headers FROM outbox"
                " WHERE sent_at IS NULL AND dead_at IS NULL"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.config.batch_size,
            )
            if not rows:
                return 0
            # Kafka's wait happens inside this transaction: the session must outlive it (a pool's
            # idle-in-transaction limit would otherwise end it after Kafka took the rows, and
            # they would be sent again), and the wait itself has an end.
            wait_s = self.config.kafka_wait_s
            await conn.execute(
                f"SET LOCAL idle_in_transaction_session_timeout = {int(wait_s * 1000) + 30_000}"
            )
            async with asyncio.timeout(wait_s):  # run() drops the producer and retries
                await self.declare({row["topic"] for row in rows})
                outcome = await self._send(rows)
            await conn.execute(
                "UPDATE outbox SET sent_at = now(),"
                " payload = CASE WHEN erase_when_sent THEN ''::bytea ELSE payload END"
                " WHERE id = ANY($1::bigint[])",
                outcome.sent,
            )
            if outcome.dead:
                await conn.executemany(
                    "UPDATE outbox SET dead_at = now(), dead_reason = $2 WHERE id = $1",
                    [(row_id, reason) for row_id, _, reason in outcome.dead],
                )
        for row_id, event_id, reason in outcome.dead:
            log.error(
                "outbox row %d (event %s) refused by Kafka, set aside: %s", row_id, event_id, reason
            )
        self.published += len(outcome.sent)
        self.dead += len(outcome.dead)
        metrics.PUBLISHED.inc(len(outcome.sent))
        metrics.DEAD.inc(len(outcome.dead))
        if outcome.transient is not None:
            raise outcome.transient
        return len(outcome.sent) + len(outcome.dead)

    async def prune(self) -> int:
        result = await self.pool.execute(
            "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)",
            self.config.retention_s,
        )
        return int(result.split()[-1])

    async def backlog(self) -> asyncpg.Record:
        """What waits (rows, age of the oldest in seconds or None) and the dead rows; the
        metrics' gauges are set from it."""
        row = await self.pool.fetchrow(
            "SELECT count(*) AS pending,"
            " extract(epoch FROM now() - min(created_at))::float8 AS oldest,"
            " (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL) AS dead"
            " FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL",
            timeout=3,
        )
        assert row is not None
        metrics.PENDING.set(row["pending"])
        metrics.OLDEST_AGE.set(row["oldest"] or 0.0)
        metrics.DEAD_ROWS.set(row["dead"])
        return row

    async def health(self, max_age_s: float) -> tuple[bool, dict[str, object]]:
        try:
            row = await self.backlog()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            return False, {"status": "database unreachable", "error": type(exc).__name__}
        return relay_health(row["oldest"], row["dead"], max_age_s)

    async def _sample(self) -> None:
        """The backlog gauges, at most once per poll interval (a failure leaves them be)."""
        now = asyncio.get_running_loop().time()
        if now < self._next_sample:
            return
        self._next_sample = now + self.config.poll_interval_s
        with contextlib.suppress(Exception):
            await self.backlog()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Keep a connection LISTENing for new rows; a lost one is replaced (rows that arrived
        meanwhile are found by the next publish)."""
        if self._listener is not None and not connection_lost(self._listener):
            return
        old, self._listener = self._listener, None
        if old is not None:
            log.warning("outbox relay: the LISTEN connection was lost; listening again")
            with contextlib.suppress(Exception):
                await self.pool.release(old)
        listener = await self.pool.acquire()
        try:
            await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except BaseException:
            await self.pool.release(listener)
            raise
        self._listener = listener

    async def run(self) -> None:
        """Publish until cancelled."""
        backoff = self.config.backoff_initial_s
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        try:
            while True:
                self._wake.clear()  # a NOTIFY from here on wakes the wait below
                try:
                    await self._listen()
                    await self.declare(self.config.declare)
                    while await self.publish_batch() == self.config.batch_size:
                        pass  # a full batch: there may be more right away
                    backoff = self.config.backoff_initial_s
                    if loop.time() >= next_prune:
                        await self.prune()
                        next_prune = loop.time() + self.config.prune_interval_s
                    await self._sample()
                except Exception as exc:  # the relay must outlive any failure: retry them all
                    metrics.FAILURES.inc()
                    await self._sample()
                    log.warning("outbox relay: %r; retrying in %.1f s", exc, backoff)
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.config.backoff_max_s)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)
        finally:
            listener, self._listener = self._listener, None
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                with contextlib.suppress(Exception):
                    await self.pool.release(listener)
            await self.close()
