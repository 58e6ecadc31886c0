"""From a mutating RPC's return to its event on the topic, beside a bare producer's send.

One in-process authz server (relay on) on the benchmark's database, one gRPC client calling
CreateUser in account "bench", bare producers (one configured like the relay's, one with
linger_ms=0) sending pre-built events keyed "bench" (so to the same partition), and one consumer,
assigned and at the end of the topic before the first call, noting when each event (by resource
identifier) arrives. The three kinds of sample are interleaved; everything shares one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from bench.authz_client import admin_channel
from bench.events import Prepared, bare_producer, prepare
from bench.report import Latency
from libs.events import codec
from services.authz.server import running_server
from services.authz.settings import AuthzSettings

ACCOUNT = "bench"
WARM_UP = 20  # calls and sends before measuring: connections, producer ids, metadata, caches
ARRIVAL_TIMEOUT_S = 10.0  # one event that takes longer counts as lost, not as a sample


class TopicWatcher:
    """Notes the perf_counter time at which each event is first seen, by resource identifier."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.arrivals: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicWatcher:
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_end(*self.partitions)
        for tp in self.partitions:
            await self.consumer.position(tp)  # the end offsets are resolved before any call
        self._task = asyncio.create_task(self._consume())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _consume(self) -> None:
        """Until cancelled (at the end of the phase)."""
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    identifier = codec.decode(record.value).resource.identifier
                    self.arrivals.setdefault(identifier, now)
                    waiter = self._waiters.pop(identifier, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(now)

    async def seen(self, identifier: str, timeout_s: float = ARRIVAL_TIMEOUT_S) -> float | None:
        """When the event arrived; None if it did not within timeout_s."""
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


class Series:
    def __init__(self, what: str, expected: int) -> None:
        self.what = what
        self.expected = expected
        self.samples: list[float] = []

    def add(self, start: float, end: float | None) -> None:
        if end is not None:
            self.samples.append(end - start)

    def latency(self) -> Latency:
        return Latency(self.what, self.samples, self.expected)


async def create_user(users: pb_grpc.UserServiceAsyncStub, identifier: str) -> None:
    user = pb.User(account=ACCOUNT, identifier=identifier, email=f"{identifier}@example.com")
    await users.CreateUser(pb.CreateUserRequest(user=user))


async def latencies(
    database_url: str,
    bootstrap: str,
    topic: str,
    partitions: int,
    samples: int,
    timeout_s: float,
) -> list[tuple[Latency, Latency | None]]:
    """The latency rows, each with the baseline it is compared with (None: no ratio)."""
    settings = AuthzSettings(
        database_url=SecretStr(database_url),
        port=0,
        shutdown_grace_s=2.0,
        run_relay=True,
        kafka_bootstrap_servers=bootstrap,
        audit_topic=topic,
    )
    bare_events = [prepare(f"{prefix}-", WARM_UP + samples, [ACCOUNT]) for prefix in ("b", "b0")]
    send_seen = Series("bare producer: send -> consumer sees", samples)
    send_ack = Series("bare producer: send_and_wait (ack)", samples)
    unlingered_seen = Series("bare producer, linger 0: send -> consumer sees", samples)
    rpc_seen = Series("RPC returned -> consumer sees (one at a time)", samples)
    rpc_start_seen = Series("RPC started -> consumer sees (one at a time)", samples)
    rpc = Series("CreateUser RPC itself", samples)
    back_to_back = Series("RPC returned -> consumer sees (back-to-back)", samples)
    producer = bare_producer(bootstrap)
    unlingered = bare_producer(bootstrap, linger_ms=0)
    await producer.start()
    await unlingered.start()
    try:
        async with (
            running_server(settings) as server,
            TopicWatcher(bootstrap, topic, partitions) as watcher,
        ):
            channel = await admin_channel(server, ACCOUNT)
            users = pb_grpc.UserServiceStub(channel)

            async def bare_sample(
                sender: AIOKafkaProducer, event: Prepared, seen_series: Series, record: bool
            ) -> None:
                start = time.perf_counter()
                await sender.send_and_wait(
                    topic, value=event.payload, key=event.key, headers=event.kafka_headers
                )
                acked = time.perf_counter()
                seen = await watcher.seen(event.identifier)
                if record:
                    seen_series.add(start, seen)
                    if sender is producer:
                        send_ack.add(start, acked)

            async def rpc_sample(identifier: str, record: bool) -> None:
                start = time.perf_counter()
                await create_user(users, identifier)
                returned = time.perf_counter()
                seen = await watcher.seen(identifier)
                if record:
                    rpc.add(start, returned)
                    rpc_seen.add(returned, seen)
                    rpc_start_seen.add(start, seen)

            try:
                # Interleaved, so that both series see the same moments of a noisy machine.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        for i, (event, other) in enumerate(zip(*bare_events, strict=True)):
                            await bare_sample(producer, event, send_seen, i >= WARM_UP)
                            await bare_sample(unlingered, other, unlingered_seen, i >= WARM_UP)
                            await rpc_sample(f"iso-{i}", record=i >= WARM_UP)
                # Back-to-back: the next call does not wait for the previous event.
                returned: dict[str, float] = {}
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        for i in range(samples):
                            await create_user(users, f"seq-{i}")
                            returned[f"seq-{i}"] = time.perf_counter()
                        for identifier, at in returned.items():
                            back_to_back.add(at, await watcher.seen(identifier))
            finally:
                await channel.close(None)
    finally:
        await producer.stop()
        await unlingered.stop()
    baseline = send_seen.latency()
    return [
        (baseline, None),
        (send_ack.latency(), None),
        (unlingered_seen.latency(), baseline),
        (rpc_seen.latency(), baseline),
        (rpc_start_seen.latency(), baseline),
        (back_to_back.latency(), baseline),
        (rpc.latency(), None),
    ]
