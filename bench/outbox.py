"""The outbox relay beside a bare aiokafka producer sending the same bytes, in the same run.

Throughput: N pre-built AuditEvents (keyed by account) sent by a bare idempotent producer
(acks=all), then the same N drained from the outbox table by a Relay. Latency: an in-process authz
server (relay on) serving sequential CreateUser calls, and a consumer noting when each call's event
reaches the topic; beside it a bare producer's send_and_wait to the same partition, seen by the
same consumer. Prints both tables with ratios; asserts nothing (DESIGN.md section 8).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import platform
import time

import aiokafka
import asyncpg
from rich.console import Console

from bench.endpoints import endpoints, fresh_database, fresh_topics, unique_name
from bench.events import Prepared, bare_producer, prepare, send
from bench.outbox_latency import latencies
from bench.report import Throughput, latency_table, throughput_table
from libs.outbox.relay import Relay, RelayConfig
from libs.outbox.writer import add_to_outbox
from services.authz.store.schema import migrate_authz

ROWS_PER_TRANSACTION = 5_000


async def bare_throughput(
    bootstrap: str, topic: str, events: list[Prepared], window: int | None, timeout_s: float
) -> Throughput:
    """Send `window` events, wait for all their acks, repeat (None: all in flight at once)."""
    producer = bare_producer(bootstrap)
    await producer.start()
    acked, complete = 0, True
    try:
        await (await send(producer, topic, prepare("warm-bare", 1, ["warm"])[0]))  # metadata
        size = window or len(events)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                for i in range(0, len(events), size):
                    chunk = events[i : i + size]
                    await asyncio.gather(*[await send(producer, topic, e) for e in chunk])
                    acked += len(chunk)
        except TimeoutError:
            complete = False
        elapsed = time.perf_counter() - start
    finally:
        await producer.stop()
    in_flight = f"{window:,}" if window else "all"
    return Throughput("bare aiokafka producer", in_flight, acked, elapsed, complete)


async def fill_outbox(pool: asyncpg.Pool, topic: str, events: list[Prepared]) -> None:
    async with pool.acquire() as conn:
        for i in range(0, len(events), ROWS_PER_TRANSACTION):
            async with conn.transaction():
                for e in events[i : i + ROWS_PER_TRANSACTION]:
                    await add_to_outbox(
                        conn,
                        event_id=e.event_id,
                        topic=topic,
                        key=e.key,
                        payload=e.payload,
                        headers=e.headers,
                    )
        await conn.execute("ANALYZE outbox")  # plans as on a table autovacuum has seen


async def relay_throughput(
    pool: asyncpg.Pool,
    bootstrap: str,
    topic: str,
    events: list[Prepared],
    batch_size: int,
    timeout_s: float,
) -> Throughput:
    """Fill the outbox, then time a running Relay until it has published every row."""
    await pool.execute("TRUNCATE outbox")
    relay = Relay(pool, RelayConfig(bootstrap_servers=bootstrap, batch_size=batch_size))
    await fill_outbox(pool, topic, prepare(f"warm-relay{batch_size}-", 1, ["warm"]))
    await relay.publish_batch()  # starts its producer and learns the topic, untimed
    await fill_outbox(pool, topic, events)
    target = relay.published + len(events)
    complete = True
    task = asyncio.create_task(relay.run())
    start = time.perf_counter()
    try:
        # relay.published grows after each batch's commit: the in-process twin of polling
        # count(*) WHERE sent_at IS NULL, without adding queries to the measured run. A Relay
        # has no event to await, hence the 1 ms poll.
        async with asyncio.timeout(timeout_s):
            while relay.published < target:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
    except TimeoutError:
        complete = False
    elapsed = time.perf_counter() - start
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    pending = await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    published = len(events) - pending
    return Throughput("outbox Relay", f"batch {batch_size:,}", published, elapsed, complete)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench outbox", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="throughput: events per run")
    parser.add_argument("--samples", type=int, default=300, help="latency: calls per series")
    parser.add_argument(
        "--batch-sizes",
        default="500,100",
        help="relay batch sizes to run, comma-separated (the bare producer waits for acks after"
        " as many sends)",
    )
    parser.add_argument("--accounts", type=int, default=16, help="throughput: distinct keys")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each topic")
    parser.add_argument("--phase-timeout", type=float, default=120.0, help="seconds per phase")
    return parser.parse_args(argv)


async def main(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=max(Console().width, 132))  # rows unwrapped when piped
    where = endpoints()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    accounts = [f"acct{i}" for i in range(args.accounts)]
    events = prepare("t", args.events, accounts)
    topics = {
        name: unique_name(f"bench-outbox-{name}").replace("_", "-")
        for name in ("bare", "relay", "e2e")
    }
    console.print(
        f"outbox benchmark: {args.events:,} events of {len(events[0].payload)} bytes over"
        f" {len(accounts)} accounts, {args.partitions} partitions; {args.samples} latency"
        f" samples; python {platform.python_version()}, aiokafka {aiokafka.__version__};"
        f" Kafka {where.kafka_bootstrap_servers}"
    )
    throughput: list[tuple[Throughput, Throughput | None]] = []
    async with (
        fresh_database(where.database_url) as database_url,
        fresh_topics(where.kafka_bootstrap_servers, list(topics.values()), args.partitions),
    ):
        pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
        try:
            async with pool.acquire() as conn:
                await migrate_authz(conn)
            all_in_flight = await bare_throughput(
                where.kafka_bootstrap_servers, topics["bare"], events, None, args.phase_timeout
            )
            throughput.append((all_in_flight, None))
            for size in batch_sizes:
                bare = await bare_throughput(
                    where.kafka_bootstrap_servers, topics["bare"], events, size, args.phase_timeout
                )
                relay = await relay_throughput(
                    pool,
                    where.kafka_bootstrap_servers,
                    topics["relay"],
                    events,
                    size,
                    args.phase_timeout,
                )
                throughput += [(bare, None), (relay, bare)]
            await pool.execute("TRUNCATE outbox")
        finally:
            await pool.close()
        latency_rows = await latencies(
            database_url,
            where.kafka_bootstrap_servers,
            topics["e2e"],
            args.partitions,
            args.samples,
            args.phase_timeout,
        )
    console.print(throughput_table("Throughput (acknowledged by Kafka, acks=all)", throughput))
    console.print(latency_table("Latency until a consumer sees the event (ms)", latency_rows))
