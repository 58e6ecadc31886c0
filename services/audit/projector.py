"""The faust-streaming projector: audit.events.v1 -> audit_events, batch by batch.

The consumer hands the agent runs: what a fetch brought from one partition (run_delivery.py).
The agent decodes and validates each run's events while the previous write runs; the runs that
arrive meanwhile are written together in one transaction, and acknowledged only after its
commit (the agent reads with noack). Writes run one at a time, in topic order. Nothing here
raises: an event would otherwise be lost to the stream. A store failure is classified
(domain/failures.py): a transient one is retried with backoff until it passes; data the store
refuses for good is found by bisecting the batch and that one event becomes a dead letter, in
the same retried transaction as the rest of its half. Dead letters reach their topic only after
the commit, and a failed send there loses nothing (the table holds them)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import faust

from libs.events.topics import TopicSettings, ensure_topics, spec_for
from libs.health_http import start_health_server
from libs.runtime.log_setup import configure_logging
from services.audit import metrics
from services.audit.domain.failures import printable_reason, rejected_for_good
from services.audit.domain.liveness import LagSample, Liveness
from services.audit.domain.records import InvalidEvent
from services.audit.event_decoding import record_from_bytes
from services.audit.lag_probe import GroupLag
from services.audit.run_delivery import RUNS, RunDeliveringApp
from services.audit.settings import AuditSettings
from services.audit.store import repository
from services.audit.store.repository import DeadLetter, Prepared, prepare

log = logging.getLogger(__name__)

GC_THRESHOLDS = (20_000, 20, 20)
# Events decoded between two turns of the event loop: a whole run at once would hold back the
# write in flight (its reply waits for the loop) by tens of milliseconds.
DECODE_SLICE = 200
RUNS_BUFFERED = 8  # runs in the stream's buffer: a fetch's worth of partitions
STOP_GRACE_S = 2.0  # for faust's wait_empty to end once the consumer is stopped

Incoming = tuple[Prepared, Any]  # a decoded event and the Kafka record it came from
Acknowledge = Callable[[Any], Awaitable[bool]]  # faust's Stream.ack, of a run's event


def _dead_letter(record: Any, reason: str) -> DeadLetter:
    return DeadLetter(
        record.topic, record.partition, record.offset, record.key, record.value or b"", reason
    )


@dataclass
class Batch:
    """Runs decoded and waiting for one transaction."""

    runs: list[Any] = field(default_factory=list)  # faust events, acknowledged after the commit
    incoming: list[Incoming] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.incoming) + len(self.dead)


class RejectedForGood(Exception):
    """PostgreSQL refuses this data and always will."""


class Projector:
    """Everything the agent does, apart from faust itself."""

    def __init__(self, settings: AuditSettings, dead_letter_topic: Any) -> None:
        self.settings = settings
        self.keys = settings.chain_keys()
        self.dead_letter_topic = dead_letter_topic
        self.pool: asyncpg.Pool | None = None
        self.stored = 0
        self.dead = 0
        self.liveness = Liveness(settings.stall_after_s, time.monotonic())
        self.lag = GroupLag(settings.kafka_bootstrap_servers, settings.group_id, settings.topic)
        self.health_server: asyncio.Server | None = None
        self.waiting = Batch()  # the runs for the next write
        self.taken = asyncio.Event()  # set as the writer takes what is waiting
        self.writing: asyncio.Task[None] | None = None  # stores batches while any wait

    async def prepare(self) -> None:
        """Before faust subscribes: the topics exist with their declared partitions, and the
        health endpoint answers."""
        topics = TopicSettings()
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            [
                spec_for(self.settings.topic, topics),
                spec_for(self.settings.dead_letter_topic, topics),
            ],
        )
        if self.settings.health_port >= 0 and self.health_server is None:
            self.health_server = await start_health_server(
                self.settings.health_host, self.settings.health_port, self.health
            )

    async def close(self) -> None:
        await self.lag.close()
        if self.health_server is not None:
            self.health_server.close()

    async def health(self) -> tuple[bool, dict[str, object]]:
        healthy, details = self.liveness.report(time.monotonic())
        return healthy, {**details, "stored": self.stored, "dead_letters": self.dead}

    async def observe_lag(self, assigned: set[Any]) -> None:
        sampled = await self.lag.sample()
        if sampled is not None:
            for partition, behind in self.lag.partition_lags.items():
                metrics.GROUP_LAG.labels(str(partition)).set(behind)
        owned = tuple(sorted(tp.partition for tp in assigned if tp.topic == self.settings.topic))
        lag, committed = sampled if sampled is not None else (None, 0)
        if sampled is None and self.liveness.last is not None:
            committed = self.liveness.last.committed
        self.liveness.observe(LagSample(time.monotonic(), lag, committed, owned))

    async def _drop_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.terminate()

    async def _pool(self) -> asyncpg.Pool:
        while self.pool is None:
            pool: asyncpg.Pool | None = None
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
            except Exception as exc:  # whatever it is, the next try may pass
                log.warning("database not ready: %r; retrying", exc)
                if pool is not None:
                    pool.terminate()
                await asyncio.sleep(1.0)
        return self.pool

    def split(
        self, records: Sequence[Any], incoming: list[Incoming], dead: list[DeadLetter]
    ) -> None:
        """Decode the records: each an incoming event or a dead letter."""
        for record in records:
            try:
                incoming.append((prepare(record_from_bytes(record.value or b"")), record))
            except InvalidEvent as exc:
                dead.append(_dead_letter(record, printable_reason(str(exc))))
            except Exception as exc:  # an event that breaks the decoder is poison too
                reason = f"undecodable: {type(exc).__name__}: {exc}"
                dead.append(_dead_letter(record, printable_reason(reason)))

    def _busy(self) -> bool:
        return self.writing is not None and not self.writing.done()

    async def submit(self, run: Any, ack: Acknowledge) -> None:
        """Decode a run while the write in flight runs, and queue it for the next write. It
        waits only while a whole batch is already waiting; meanwhile faust fetches on. Batches
        commit in topic order, one at a time, and a run is acknowledged after its commit."""
        incoming: list[Incoming] = []
        dead: list[DeadLetter] = []
        records = run.value
        for start in range(0, len(records), DECODE_SLICE):
            if start:
                await asyncio.sleep(0)  # the write's next step, when its reply is in, goes first
            self.split(records[start : start + DECODE_SLICE], incoming, dead)
        while len(self.waiting) >= self.settings.batch_size and self._busy():
            self.taken.clear()
            await self.taken.wait()
        waiting = self.waiting
        waiting.runs.append(run)
        waiting.incoming += incoming
        waiting.dead += dead
        if not self._busy():
            self.writing = asyncio.create_task(self._write_waiting(ack))

    async def _write_waiting(self, ack: Acknowledge) -> None:
        while self.waiting.runs:
            batch, self.waiting = self.waiting, Batch()
            self.taken.set()
            await self._handle(batch, ack)

    async def drain(self) -> None:
        """Wait until everything submitted is stored."""
        if self.writing is not None:
            await self.writing

    async def _handle(self, batch: Batch, ack: Acknowledge) -> None:
        with metrics.BATCH_SECONDS.time():
            letters = await self._store(batch.incoming, batch.dead)
        for run in batch.runs:
            run.message.processed = True  # only a processed run moves the commit (Run)
            await ack(run)
        self.dead += len(letters)
        metrics.DEAD_AT_DECODE.inc(len(batch.dead))
        metrics.DEAD_AT_STORE.inc(len(letters) - len(batch.dead))
        for letter in letters:
            log.warning(
                "dead letter %s[%d]@%d: %s",
                letter.topic,
                letter.partition,
                letter.offset,
                letter.reason,
            )
        await self._publish(letters)

    async def _store(self, incoming: list[Incoming], dead: list[DeadLetter]) -> list[DeadLetter]:
        """Store the events and dead letters; return every dead letter written."""
        try:
            await self._write([event for event, _ in incoming], dead)
            return dead
        except RejectedForGood as exc:
            if len(incoming) == 1:
                reason = printable_reason(f"rejected by the audit store: {exc}")
                letter = _dead_letter(incoming[0][1], reason)
                await self._write([], [*dead, letter])
                return [*dead, letter]
            half = len(incoming) // 2  # in order: the first half commits before the second
            return await self._store(incoming[:half], dead) + await self._store(incoming[half:], [])

    async def _write(self, events: list[Prepared], dead: list[DeadLetter]) -> None:
        """One transaction, retried with backoff while the failure is transient."""
        delay = 0.1
        while True:
            pool = await self._pool()
            try:
                async with pool.acquire() as conn:
                    stored = await repository.write_prepared(conn, events, dead, self.keys)
                self.stored += stored
                metrics.STORED.inc(stored)
                return
            except asyncpg.PostgresError as exc:
                # Dead letters alone are bytea and cleaned text: a refusal of those is not
                # expected, and is retried (health reports the stall) rather than lost.
                if rejected_for_good(exc.sqlstate) and events:
                    raise RejectedForGood(f"{exc.sqlstate} {type(exc).__name__}: {exc}") from exc
                log.warning("writing a batch failed: %r; retrying in %.1f s", exc, delay)
            except Exception as exc:  # the agent must not crash: faust would stop the stream
                # A broken connection can surface as an InterfaceError or InternalClientError:
                # start over with a fresh pool.
                log.warning("writing a batch failed: %r; retrying in %.1f s", exc, delay)
                await self._drop_pool()
            metrics.WRITE_RETRIES.inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.retry_backoff_max_s)

    async def _publish(self, letters: list[DeadLetter]) -> None:
        """The dead-letter topic, after the commit: a failure is logged, the table keeps them."""
        timeout = self.settings.dead_letter_send_timeout_s
        for letter in letters:
            try:
                delivered = await asyncio.wait_for(
                    self.dead_letter_topic.send(
                        key=letter.key,
                        value=letter.payload,
                        headers={
                            "reason": letter.reason.encode(),
                            "source-topic": letter.topic.encode(),
                            "source-partition": str(letter.partition).encode(),
                            "source-offset": str(letter.offset).encode(),
                        },
                        force=True,  # now, not attached to the batch's acknowledgement
                    ),
                    timeout,
                )
                await asyncio.wait_for(asyncio.shield(delivered), timeout)
            except Exception as exc:  # the table already holds the letter
                log.error(
                    "dead letter %s[%d]@%d not published to %s (%r); it is in audit_dead_letters",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    self.settings.dead_letter_topic,
                    exc,
                )

    async def maintain(self) -> None:
        pool = await self._pool()
        now = datetime.now(UTC)
        try:
            async with pool.acquire() as conn:
                await repository.ensure_partitions(
                    conn, now, self.settings.partitions_behind, self.settings.partitions_ahead
                )
                await repository.drop_expired(conn, now, self.settings.retention_days)
        except Exception as exc:  # a timer that raises would stop
            log.warning("partition maintenance failed: %r; next time", exc)


class ProjectorApp(RunDeliveringApp):
    projector: Projector

    async def on_first_start(self) -> None:
        await super().on_first_start()
        settings = self.projector.settings
        if settings.log_format == "json":  # faust's worker set up its own text handlers
            configure_logging(settings.log_level, "json", replace=True)
        await self.projector.prepare()  # before the consumer (a child service) subscribes
        # Every batch makes tens of thousands of short-lived objects: with the default
        # thresholds the collector runs dozens of times a batch and walks faust's and the
        # libraries' long-lived objects each time (7 us an event measured). Those are frozen
        # out of its way, and the young generation collected less often.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    async def on_stop(self) -> None:
        await self.projector.close()
        await super().on_stop()

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        """faust waits, at a rebalance and at a stop, until every event taken is acknowledged:
        until the batch being written commits, for ever with PostgreSQL down. At a stop the
        write gets stop_write_timeout_s; past it the batch is abandoned unacknowledged (read
        again, skipped as stored) and the worker exits."""
        if not self.should_stop:
            await super()._consumer_wait_empty(consumer, logger)
            return
        # Not a cancellation: faust's wait_empty swallows it and goes on waiting.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        await asyncio.wait({waiting}, timeout=self.projector.settings.stop_write_timeout_s)
        if not waiting.done():
            log.warning("the batch being stored was abandoned at stop")
            await consumer.stop()  # commits what is acknowledged; wait_empty ends with it
            # ...unless the write acknowledged more meanwhile: wait_empty's own last commit
            # would then wait on the stopped consumer thread for ever. Not waited for long.
            await asyncio.wait({waiting}, timeout=STOP_GRACE_S)
            return
        await waiting


def create_app(settings: AuditSettings) -> faust.App:
    topics = TopicSettings()
    metadata_max_age_ms = int(settings.metadata_max_age_s * 1000)
    app = ProjectorApp(
        settings.group_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        datadir=settings.datadir,
        store="memory://",
        web_enabled=False,
        topic_replication_factor=topics.replication_factor,
        topic_partitions=topics.partitions,
        topic_allow_declare=True,  # faust's own internal topics
        consumer_auto_offset_reset="earliest",
        consumer_metadata_max_age_ms=metadata_max_age_ms,
        producer_metadata_max_age_ms=metadata_max_age_ms,
        broker_commit_interval=0.5,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 0.5),
        key_serializer="raw",
        value_serializer="raw",
        # A fetch hands over at most a batch, in runs (one per partition); the stream buffers
        # a few runs, as the agent takes them at once unless a whole batch is waiting.
        broker_max_poll_records=settings.batch_size,
        stream_buffer_maxsize=RUNS_BUFFERED,
        # aiokafka asks a broker again only once the records it fetched from it are consumed:
        # the more each fetch brings, the fewer such stops (1 MiB: 0.7x the rate of 4 MiB).
        consumer_max_fetch_size=settings.fetch_partition_bytes,
    )
    topic = app.topic(settings.topic, schema=RUNS)
    dead_letter_topic = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes)
    projector = Projector(settings, dead_letter_topic)
    app.projector = projector

    @app.agent(topic, concurrency=1)
    async def project(stream: faust.StreamT[Any]) -> None:
        # Acknowledged by the projector's writes, after their commits. (noack is on faust.Stream
        # but missing from the StreamT interface.)
        runs = stream.noack()  # type: ignore[attr-defined]
        try:
            async for run in runs.events():
                await projector.submit(run, runs.ack)
        finally:  # a stopping worker lets the last write commit, for a while
            try:
                async with asyncio.timeout(settings.stop_write_timeout_s):
                    await projector.drain()
            except TimeoutError:  # abandoned unacknowledged: read again, skipped as stored
                log.warning("the batch being stored was abandoned at stop")

    @app.timer(interval=settings.maintenance_interval_s)  # type: ignore[untyped-decorator]
    async def maintain() -> None:
        await projector.maintain()

    @app.timer(interval=settings.health_interval_s)  # type: ignore[untyped-decorator]
    async def observe_lag() -> None:
        await projector.observe_lag(app.consumer.assignment())

    return app
