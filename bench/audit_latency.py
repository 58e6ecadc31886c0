"""From a mutating RPC's return to its row in audit_events, beside the same event's arrival at a
bare consumer of the topic.

One in-process authz server (relay on) publishing to the benchmark's topic, one projector worker
process (`python -m services.audit worker`) projecting that topic into the same database, a gRPC
client calling CreateUser in account "bench", a consumer (bench.outbox_latency.TopicWatcher)
noting when each event reaches the topic, and a RowWatcher noting when each row becomes visible in
audit_events. The RowWatcher reads the new rows of the account every POLL_S, by keyset on the
(account, chain_seq) index: a row is committed with its chain position, and positions of one
account commit in order (the chain head is locked), so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

import asyncpg
from pydantic import SecretStr

from authz.v1 import authz_pb2_grpc as pb_grpc
from bench.audit_workers import ProjectorWorkers, empty_store
from bench.authz_client import admin_channel
from bench.events import bare_producer, prepare, send
from bench.outbox_latency import ACCOUNT, WARM_UP, Series, TopicWatcher, create_user
from bench.report import Latency
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

POLL_S = 0.002  # how often the RowWatcher looks for new rows
MAX_IN_FLIGHT = 256  # calls of the fixed-rate series outstanding at once
Arrivals = Callable[["Call"], Awaitable[tuple[float | None, tuple[float, datetime] | None]]]
ARRIVAL_TIMEOUT_S = 10.0  # a row that takes longer counts as lost, not as a sample
FIRST_ROW_TIMEOUT_S = 60.0  # the worker's start: imports, group join, partition assignment


class RowWatcher:
    """Notes when each row of an account is first seen (perf_counter) and its projected_at."""

    def __init__(self, database_url: str, account: str) -> None:
        self.database_url = database_url
        self.account = account
        self.arrivals: dict[str, tuple[float, datetime]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, datetime]]] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RowWatcher:
        self._conn = await asyncpg.connect(self.database_url)
        self._task = asyncio.create_task(self._poll(self._conn))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            await self._conn.close()

    async def _poll(self, conn: asyncpg.Connection) -> None:
        """Until cancelled (at the end of the phase)."""
        last = 0
        query = await conn.prepare(
            "SELECT chain_seq, resource_id, projected_at FROM audit_events"
            " WHERE account = $1 AND chain_seq > $2 ORDER BY chain_seq"
        )
        while True:
            rows = await query.fetch(self.account, last)
            now = time.perf_counter()
            for row in rows:
                last = row["chain_seq"]
                seen = (now, row["projected_at"])
                self.arrivals.setdefault(row["resource_id"], seen)
                waiter = self._waiters.pop(row["resource_id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(seen)
            await asyncio.sleep(POLL_S)

    async def seen(
        self, identifier: str, timeout_s: float = ARRIVAL_TIMEOUT_S
    ) -> tuple[float, datetime] | None:
        """When the row was first seen and its projected_at; None if not within timeout_s."""
        if identifier in self.arrivals:
            return self.arrivals[identifier]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[identifier] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(identifier, None)


class Call:
    """One CreateUser call: when it returned (perf_counter and wall clock)."""

    def __init__(self, identifier: str, started: float, returned: float, wall: float) -> None:
        self.identifier = identifier
        self.started = started
        self.returned = returned
        self.wall = wall


class Columns:
    """The series of one way of calling: topic, row visible, projected_at, RPC duration."""

    def __init__(self, how: str, samples: int) -> None:
        self.topic = Series(f"RPC returned -> bare consumer sees ({how})", samples)
        self.row = Series(f"RPC returned -> row in audit_events ({how})", samples)
        self.projected = Series(f"RPC returned -> projected_at ({how})", samples)
        self.rpc = Series(f"CreateUser RPC itself ({how})", samples)

    def add(
        self, call: Call, topic_seen: float | None, row_seen: tuple[float, datetime] | None
    ) -> None:
        self.rpc.add(call.started, call.returned)
        self.topic.add(call.returned, topic_seen)
        if row_seen is not None:
            self.row.add(call.returned, row_seen[0])
            self.projected.add(call.wall, row_seen[1].timestamp())

    def rows(self) -> list[tuple[Latency, Latency | None]]:
        baseline = self.topic.latency()
        return [
            (baseline, None),
            (self.row.latency(), baseline),
            (self.projected.latency(), baseline),
            (self.rpc.latency(), None),
        ]


async def latencies(
    database_url: str,
    bootstrap: str,
    topic: str,
    partitions: int,
    group: str,
    workdir: Path,
    batch_size: int,
    samples: int,
    gap_s: float,
    pause_s: float,
    rpc_rate: float,
    event_rate: float,
    rate_s: float,
    timeout_s: float,
) -> tuple[list[tuple[Latency, Latency | None]], str]:
    """The latency rows, each with the baseline it is compared with (None: no ratio), and a
    note on the phase (the worker's start, or why it failed)."""
    settings = AuthzSettings(
        database_url=SecretStr(database_url),
        port=0,
        shutdown_grace_s=2.0,
        run_relay=True,
        kafka_bootstrap_servers=bootstrap,
        audit_topic=topic,
    )
    conn = await asyncpg.connect(database_url)
    try:
        await empty_store(conn)
    finally:
        await conn.close()
    one = Columns(f"one at a time, pause 0-{pause_s * 1000:g} ms", samples)
    stream = Columns(f"back-to-back, {gap_s * 1000:g} ms gap", samples)
    rated = Columns(f"CreateUser at {rpc_rate:g}/s", int(rpc_rate * rate_s))
    produced = Columns(f"produced at {event_rate:g}/s", int(event_rate * rate_s))
    produced.rpc.what = f"producer send -> acknowledged (produced at {event_rate:g}/s)"
    produced.topic.what = f"acknowledged -> bare consumer sees (produced at {event_rate:g}/s)"
    produced.row.what = f"acknowledged -> row in audit_events (produced at {event_rate:g}/s)"
    produced.projected.what = f"acknowledged -> projected_at (produced at {event_rate:g}/s)"
    note = ""
    with ProjectorWorkers(bootstrap, topic, group, database_url, workdir, batch_size) as workers:
        async with (
            running_server(settings) as server,
            TopicWatcher(bootstrap, topic, partitions) as topic_watcher,
            RowWatcher(database_url, ACCOUNT) as row_watcher,
        ):
            channel = await admin_channel(server, ACCOUNT)
            users = pb_grpc.UserServiceStub(channel)

            async def call(identifier: str) -> Call:
                started = time.perf_counter()
                await create_user(users, identifier)
                return Call(identifier, started, time.perf_counter(), time.time())

            async def arrivals(call: Call) -> tuple[float | None, tuple[float, datetime] | None]:
                return await asyncio.gather(
                    topic_watcher.seen(call.identifier), row_watcher.seen(call.identifier)
                )

            try:
                start = time.perf_counter()
                workers.start()
                first = await call("warm-first")
                if await row_watcher.seen(first.identifier, FIRST_ROW_TIMEOUT_S) is None:
                    return [], f"no row within {FIRST_ROW_TIMEOUT_S:g} s:\n{workers.logs()}"
                note = (
                    f"worker start -> first row: {time.perf_counter() - start:.2f} s"
                    f" (process start, imports, group join, first batch)"
                )
                for i in range(WARM_UP):
                    await arrivals(await call(f"warm-{i}"))
                # One at a time: the next call after the previous row is in the table, and a
                # random pause, so that calls do not lock into step with the projector's
                # take_events timer (which restarts when a batch is written).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        for i in range(samples):
                            await asyncio.sleep(random.uniform(0, pause_s))
                            done = await call(f"iso-{i}")
                            one.add(done, *await arrivals(done))
                # Back-to-back: the next call gap_s after the previous returned, rows or not.
                calls: list[Call] = []
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        for i in range(samples):
                            calls.append(await call(f"seq-{i}"))
                            await asyncio.sleep(gap_s)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        for done in calls:
                            stream.add(done, *await arrivals(done))
                note += "\n" + await at_rate(call, arrivals, rated, rpc_rate, rate_s, timeout_s)
                note += "\n" + await produced_at_rate(
                    bootstrap, topic, arrivals, produced, event_rate, rate_s, timeout_s
                )
                if not workers.alive():
                    note += f"\nA WORKER DIED:\n{workers.logs()}"
            finally:
                await channel.close(None)
    return [*one.rows(), *stream.rows(), *rated.rows(), *produced.rows()], note


async def produced_at_rate(
    bootstrap: str,
    topic: str,
    arrivals: Arrivals,
    into: Columns,
    rate: float,
    seconds: float,
    timeout_s: float,
) -> str:
    """The projector's share at a rate the in-process server cannot reach on 2 cores: events
    of the account sent straight to the topic by a bare producer (configured as the relay's),
    from the send to the acknowledgement (the "RPC" column) and on to the row."""
    events = {e.identifier: e for e in prepare("evt-", int(rate * seconds), [ACCOUNT])}
    producer = bare_producer(bootstrap)
    await producer.start()
    try:

        async def produce(identifier: str) -> Call:
            started = time.perf_counter()
            await (await send(producer, topic, events[identifier]))
            return Call(identifier, started, time.perf_counter(), time.time())

        return await at_rate(produce, arrivals, into, rate, seconds, timeout_s, list(events))
    finally:
        await producer.stop()


async def at_rate(
    call: Callable[[str], Awaitable[Call]],
    arrivals: Arrivals,
    into: Columns,
    rate: float,
    seconds: float,
    timeout_s: float,
    identifiers: list[str] | None = None,
) -> str:
    """Calls started on a fixed schedule (open loop: a slow call does not delay the next one,
    up to MAX_IN_FLIGHT), then every row awaited; a note says the rate the server reached."""
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    calls: list[asyncio.Task[Call]] = []

    names = identifiers or [f"rate-{i}" for i in range(int(rate * seconds))]

    async def one(i: int) -> Call:
        async with in_flight:
            return await call(names[i])

    start = time.perf_counter()
    for i in range(len(names)):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        calls.append(asyncio.create_task(one(i)))
    done = await asyncio.gather(*calls)
    reached = len(done) / (max(c.returned for c in done) - start)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            seen = await asyncio.gather(*(arrivals(c) for c in done))
            for c, (topic_seen, row_seen) in zip(done, seen, strict=True):
                into.add(c, topic_seen, row_seen)
    return f"{rate:g}/s asked: {len(done):,} calls returned at {reached:,.0f}/s"
