"""The audit projector (topic -> audit_events) beside a bare aiokafka consumer of the same topic
and a plain asyncpg insert of the same rows, in the same run; and the time from an authz mutation
to its row in audit_events.

Throughput: N pre-built AuditEvents (keyed by account) are produced once to a fresh topic; then
timed, one after the other: a bare consumer reading the topic, the decoding alone, plain INSERTs
and COPY of the decoded rows, repository.write_batch in-process, a minimal aiokafka + write_batch
loop, and the real projector worker process(es) draining the topic into an empty store. Latency:
bench.audit_latency. Prints the tables with ratios; asserts nothing (DESIGN.md section 8).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import platform
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import aiokafka
import asyncpg
import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from bench.audit_latency import latencies
from bench.audit_workers import ProjectorWorkers, empty_store, machine_cpu, stored_events
from bench.endpoints import (
    delete_topics_with_prefix,
    endpoints,
    fresh_database,
    fresh_topics,
    unique_name,
)
from bench.events import Prepared, bare_producer, prepare, send
from bench.report import Latency, Throughput, latency_table, throughput_vs_table
from services.audit.domain.chain import GENESIS
from services.audit.domain.records import AuditRecord
from services.audit.event_decoding import record_from_bytes
from services.audit.settings import AuditSettings
from services.audit.store import repository

KEYS = AuditSettings().chain_keys()

TARGET_PER_S = 20_000  # the target, events/s from topic to table
TARGET_P99_S = 0.1  # issue 19's target, RPC returned -> row at 1,000 mutations/s
POLL_S = 0.05  # how often the projector runs look at the chain heads
STEADY = (0.2, 0.9)  # the steady-state rate: rows stored between these fractions of N


class Timer:
    """The perf_counter seconds of a block; `complete` is False if the block hit its bound."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.seconds = 0.0
        self.complete = True

    async def run(self, body: Callable[[], Awaitable[None]]) -> None:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                await body()
        except TimeoutError:
            self.complete = False
        self.seconds = time.perf_counter() - start


async def fill_topic(bootstrap: str, topic: str, events: list[Prepared], timeout_s: float) -> float:
    """Produce every event (acks=all, all in flight); the seconds it took."""
    producer = bare_producer(bootstrap)
    await producer.start()
    try:
        start = time.perf_counter()
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*[await send(producer, topic, e) for e in events])
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def assigned_consumer(bootstrap: str, topic: str, partitions: int) -> AIOKafkaConsumer:
    """A consumer without a group, assigned every partition at its beginning (positions
    resolved, so that the timing starts at the first fetch)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    for tp in tps:
        await consumer.position(tp)
    return consumer


async def bare_consume(
    bootstrap: str, topic: str, partitions: int, expected: int, timeout_s: float
) -> Throughput:
    consumer = await assigned_consumer(bootstrap, topic, partitions)
    got = 0

    async def body() -> None:
        nonlocal got
        while got < expected:
            batches = await consumer.getmany(timeout_ms=500)
            got += sum(len(records) for records in batches.values())

    timer = Timer(timeout_s)
    try:
        await timer.run(body)
    finally:
        await consumer.stop()
    return Throughput("bare aiokafka consumer (getmany)", "-", got, timer.seconds, timer.complete)


def decode_all(events: list[Prepared]) -> tuple[list[AuditRecord], Throughput]:
    start = time.perf_counter()
    records = [record_from_bytes(e.payload) for e in events]
    elapsed = time.perf_counter() - start
    return records, Throughput(
        "decode alone: record_from_bytes, in-process", "-", len(records), elapsed
    )


COLUMN_TYPES = [
    "uuid",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "jsonb",
    "text",
    "text",
    "text",
    "jsonb",
    "jsonb",
    "bigint",
    "integer",
    "text",
    "bigint",
    "bytea",
    "bytea",
    "text",
]  # fmt: skip  (repository.ALL_COLUMNS, in order)
INSERT_UNNEST = (
    f"INSERT INTO audit_events ({', '.join(repository.ALL_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(COLUMN_TYPES))
    + ") ON CONFLICT DO NOTHING"
)


def plain_row(record: AuditRecord, seq: int) -> tuple[Any, ...]:
    """The row write_batch would store, without its chain: a position, genesis hashes.
    repository.record_columns is the project's own record -> row mapping, so both paths pay it."""
    return (*repository.record_columns(record), seq, GENESIS, GENESIS, "bench")


async def insert_unnest(conn: asyncpg.Connection, chunk: list[AuditRecord], first: int) -> int:
    """The INSERT write_batch issues (unnest of column arrays, ON CONFLICT DO NOTHING)."""
    rows = [plain_row(record, seq) for seq, record in enumerate(chunk, first)]
    columns = [list(column) for column in zip(*rows, strict=True)]
    async with conn.transaction():
        await conn.execute(INSERT_UNNEST, *columns)
    return len(chunk)


async def insert_copy(conn: asyncpg.Connection, chunk: list[AuditRecord], first: int) -> int:
    rows = [plain_row(record, seq) for seq, record in enumerate(chunk, first)]
    await conn.copy_records_to_table("audit_events", records=rows, columns=repository.ALL_COLUMNS)
    return len(chunk)


async def write_batch(conn: asyncpg.Connection, chunk: list[AuditRecord], first: int) -> int:
    return await repository.write_batch(conn, chunk, [], KEYS)


Writer = Callable[[asyncpg.Connection, list[AuditRecord], int], Awaitable[int]]


async def count_rows(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM audit_events"))


async def store_in_batches(
    conn: asyncpg.Connection,
    what: str,
    writer: Writer,
    records: list[AuditRecord],
    batch_size: int,
    timeout_s: float,
) -> Throughput:
    """Time writing the records batch after batch into the emptied store; events: the rows
    count(*) finds afterwards."""
    await empty_store(conn)

    async def body() -> None:
        for i in range(0, len(records), batch_size):
            await writer(conn, records[i : i + batch_size], i + 1)

    timer = Timer(timeout_s)
    await timer.run(body)
    rows = await count_rows(conn)
    return Throughput(what, f"{batch_size:,}", rows, timer.seconds, timer.complete)


async def bare_pipeline(
    conn: asyncpg.Connection,
    bootstrap: str,
    topic: str,
    partitions: int,
    expected: int,
    batch_size: int,
    timeout_s: float,
) -> Throughput:
    """The projector's work without faust: getmany up to a batch, decode, write_batch, repeat."""
    await empty_store(conn)
    consumer = await assigned_consumer(bootstrap, topic, partitions)
    stored = 0

    async def body() -> None:
        nonlocal stored
        while stored < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=batch_size)
            records = [record_from_bytes(m.value) for ms in batches.values() for m in ms]
            if records:
                stored += await repository.write_batch(conn, records, [], KEYS)

    timer = Timer(timeout_s)
    try:
        await timer.run(body)
    finally:
        await consumer.stop()
    return Throughput(
        "bare aiokafka getmany + decode + write_batch, one loop",
        f"{batch_size:,}",
        await count_rows(conn),
        timer.seconds,
        timer.complete,
    )


class Sample(NamedTuple):
    """One look at a projector run."""

    seconds: float  # since the workers were started
    rows: int  # stored
    worker_cpu_s: float  # user + system, all workers so far
    machine_busy: float  # CPU ticks of the whole machine since boot (machine_cpu)
    machine_total: float


@dataclass(frozen=True)
class ProjectorRun:
    workers: int
    expected: int
    batch_size: int
    progress: list[Sample]
    stored: int  # count(*) at the end
    complete: bool
    note: str

    def first_row_s(self) -> float:
        return next((s.seconds for s in self.progress if s.rows > 0), float("nan"))

    def reached(self, fraction: float) -> Sample:
        """The first sample at or past that fraction of the events (else the last sample)."""
        return next(
            (s for s in self.progress if s.rows >= fraction * self.expected),
            self.progress[-1],
        )

    def cpu(self, s0: Sample, s1: Sample) -> tuple[float, float, float]:
        """Between two samples: the workers' CPU seconds, their CPU microseconds per event, and
        the share of the machine's CPU time (all cores) busy."""
        seconds = s1.worker_cpu_s - s0.worker_cpu_s
        per_event = seconds / (s1.rows - s0.rows) * 1e6 if s1.rows > s0.rows else float("nan")
        ticks = s1.machine_total - s0.machine_total
        busy = (s1.machine_busy - s0.machine_busy) / ticks if ticks > 0 else float("nan")
        return seconds, per_event, busy

    def rows(self) -> list[Throughput]:
        who = f"projector worker{'s' if self.workers > 1 else ''} x{self.workers}"
        batch = f"{self.batch_size:,}"
        s0, s1 = (self.reached(f) for f in STEADY)
        end = self.progress[-1].seconds
        return [
            Throughput(f"{who}: process start -> all rows", batch, self.stored, end, self.complete),
            Throughput(
                f"{who}: first row -> all rows",
                batch,
                self.stored,
                end - self.first_row_s(),
                self.complete,
            ),
            Throughput(
                f"{who}: steady, {STEADY[0]:.0%} -> {STEADY[1]:.0%} of rows",
                batch,
                s1.rows - s0.rows,
                s1.seconds - s0.seconds,
                self.complete,
            ),
        ]


async def projector_run(
    conn: asyncpg.Connection,
    bootstrap: str,
    topic: str,
    group: str,
    database_url: str,
    workdir: Path,
    count: int,
    expected: int,
    batch_size: int,
    timeout_s: float,
) -> ProjectorRun:
    """Start `count` workers of a fresh group on the filled topic, poll until every event is
    stored (or a worker died, or timeout_s)."""
    await empty_store(conn)
    note = ""
    with ProjectorWorkers(bootstrap, topic, group, database_url, workdir, batch_size) as workers:
        progress = [Sample(0.0, 0, 0.0, *machine_cpu())]
        start = time.perf_counter()
        for _ in range(count):
            workers.start()
        while progress[-1].rows < expected:
            await asyncio.sleep(POLL_S)
            rows = await stored_events(conn)
            now = time.perf_counter() - start
            progress.append(Sample(now, rows, workers.cpu_seconds(), *machine_cpu()))
            if not workers.alive():
                note = f"a worker died:\n{workers.logs()}"
                break
            if progress[-1].seconds > timeout_s:
                note = f"timed out after {timeout_s:g} s"
                break
    stored = await count_rows(conn)
    complete = stored >= expected and not note
    return ProjectorRun(count, expected, batch_size, progress, stored, complete, note)


def runs_table(runs: list[ProjectorRun]) -> Table:
    table = Table(
        title="Projector runs: seconds since the worker processes were started; CPU until all rows",
        title_justify="left",
    )
    columns = ["workers", "first row", "20%", "50%", "90%", "all rows", "rows (count(*))"]
    columns += [f"worker CPU s ({os.cpu_count()} cores)", "machine CPU busy"]
    columns += ["steady: worker CPU us/event", "steady: machine CPU busy"]
    for column in columns:
        table.add_column(column, justify="right")
    for run in runs:
        worker_cpu_s, _, machine_busy = run.cpu(run.progress[0], run.progress[-1])
        _, per_event, busy = run.cpu(*(run.reached(f) for f in STEADY))
        table.add_row(
            str(run.workers),
            f"{run.first_row_s():.2f}",
            *(f"{run.reached(f)[0]:.2f}" for f in (0.2, 0.5, 0.9)),
            f"{run.progress[-1].seconds:.2f}",
            f"{run.stored:,}" + ("" if run.complete else " (incomplete)"),
            f"{worker_cpu_s:.2f}",
            f"{machine_busy:.0%}",
            f"{per_event:.1f}",
            f"{busy:.0%}",
        )
    return table


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="throughput: events")
    parser.add_argument("--accounts", type=int, default=50, help="throughput: distinct keys")
    parser.add_argument("--partitions", type=int, default=8, help="partitions of each topic")
    parser.add_argument(
        "--batch-size", type=int, default=2000, help="AUDIT_BATCH_SIZE, and the baselines' batch"
    )
    parser.add_argument(
        "--workers", default="1,2", help="projector runs: worker counts, comma-separated"
    )
    parser.add_argument("--samples", type=int, default=300, help="latency: calls per series")
    parser.add_argument(
        "--gap-ms", type=float, default=5.0, help="latency: pause between back-to-back calls"
    )
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=250.0,
        help="latency: one-at-a-time calls wait a random 0..this before each call",
    )
    parser.add_argument(
        "--rpc-rate", type=float, default=250.0, help="latency: CreateUser calls/s, fixed rate"
    )
    parser.add_argument(
        "--event-rate", type=float, default=1000.0, help="latency: events/s sent to the topic"
    )
    parser.add_argument(
        "--rate-seconds", type=float, default=5.0, help="latency: how long each fixed rate lasts"
    )
    parser.add_argument("--phase-timeout", type=float, default=180.0, help="seconds per phase")
    parser.add_argument("--no-throughput", action="store_true", help="skip the throughput part")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency part")
    return parser.parse_args(argv)


async def throughput(
    args: argparse.Namespace,
    console: Console,
    bootstrap: str,
    database_url: str,
    topic: str,
    prefix: str,
    workdir: Path,
    events: list[Prepared],
) -> tuple[list[Throughput], list[tuple[str, Throughput]], list[ProjectorRun]]:
    n, size, timeout_s = len(events), args.batch_size, args.phase_timeout
    produced_s = await fill_topic(bootstrap, topic, events, timeout_s)
    console.print(f"pre-filled {topic}: {n:,} events in {produced_s:.2f} s (untimed below)")
    consumed = await bare_consume(bootstrap, topic, args.partitions, n, timeout_s)
    records, decoded = decode_all(events)
    # The 2N events and records live to the end of the run: out of the cyclic collector's way,
    # so that the in-process rows are not charged for traversing them (a worker holds a batch).
    gc.collect()
    gc.freeze()
    conn = await asyncpg.connect(database_url)
    try:
        plain = await store_in_batches(
            conn,
            "plain asyncpg INSERT ... unnest, no chain",
            insert_unnest,
            records,
            size,
            timeout_s,
        )
        copy = await store_in_batches(
            conn, "plain asyncpg COPY, no chain", insert_copy, records, size, timeout_s
        )
        chained = await store_in_batches(
            conn, "repository.write_batch, in-process", write_batch, records, size, timeout_s
        )
        pipeline = await bare_pipeline(conn, bootstrap, topic, args.partitions, n, size, timeout_s)
        runs = []
        counts = [int(w) for w in args.workers.split(",") if w.strip()]
        for i, count in enumerate(counts):
            group = f"{prefix}-g{i}-{count}"  # a fresh group: a count may come twice
            run = await projector_run(
                conn, bootstrap, topic, group, database_url, workdir, count, n, size, timeout_s
            )
            if run.note:
                console.print(f"projector x{count}: {run.note}")
            runs.append(run)
        await empty_store(conn)
    finally:
        await conn.close()
        gc.unfreeze()
    target = Throughput(f"target {TARGET_PER_S:,}/s", "-", TARGET_PER_S, 1.0)
    rows = [consumed, decoded, plain, copy, chained, pipeline]
    rows += [row for run in runs for row in run.rows()]
    baselines = [("bare consumer", consumed), ("plain INSERT", plain), ("target", target)]
    return rows, baselines, runs


async def main(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=max(Console().width, 150))  # rows unwrapped when piped
    where = endpoints()
    bootstrap = where.kafka_bootstrap_servers
    prefix = unique_name("bench-audit").replace("_", "-")
    topic, e2e_topic = f"{prefix}-events", f"{prefix}-e2e"
    accounts = [f"acct{i}" for i in range(args.accounts)]
    events = prepare("t", args.events, accounts)
    defaults = AuditSettings()
    console.print(
        f"audit benchmark: {args.events:,} events of {len(events[0].payload)} bytes over"
        f" {len(accounts)} accounts, {args.partitions} partitions, batch {args.batch_size:,}"
        f"; {args.samples} latency samples;"
        f" python {platform.python_version()}, aiokafka {aiokafka.__version__},"
        f" faust {faust.__version__}, asyncpg {asyncpg.__version__}; Kafka {bootstrap}"
    )
    try:
        async with (
            fresh_database(where.database_url) as database_url,
            fresh_topics(bootstrap, [topic, e2e_topic], args.partitions),
        ):
            conn = await asyncpg.connect(database_url)
            try:
                await repository.migrate_audit(conn)
                await repository.ensure_partitions(
                    conn,
                    datetime.now(UTC),
                    defaults.partitions_behind,
                    defaults.partitions_ahead,
                )
            finally:
                await conn.close()
            with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
                workdir = Path(tmp)
                if not args.no_throughput:
                    rows, baselines, runs = await throughput(
                        args, console, bootstrap, database_url, topic, prefix, workdir, events
                    )
                    title = "Throughput: events from the topic into audit_events"
                    console.print(throughput_vs_table(title, rows, baselines))
                    console.print(runs_table(runs))
                    best = max((run.rows()[2].per_second for run in runs), default=0.0)
                    console.print(f"steady projector rate {best:,.0f}/s; target {TARGET_PER_S:,}/s")
                if not args.no_latency:
                    latency_rows, note = await latencies(
                        database_url, bootstrap, e2e_topic, args.partitions, f"{prefix}-e2e",
                        workdir, args.batch_size, args.samples, args.gap_ms / 1000,
                        args.pause_ms / 1000, args.rpc_rate, args.event_rate, args.rate_seconds,
                        args.phase_timeout,
                    )  # fmt: skip
                    print_latencies(console, latency_rows, note)
    finally:
        await delete_topics_with_prefix(bootstrap, prefix)  # the dead-letter and faust topics


def print_latencies(
    console: Console, rows: list[tuple[Latency, Latency | None]], note: str
) -> None:
    if rows:
        title = "Latency: CreateUser returned -> its row in audit_events (ms)"
        console.print(latency_table(title, rows))
    if note:
        console.print(note)
    summary = [
        f"p99 {row.what} {row.quantile(99) * 1000:.0f} ms"
        for row, baseline in rows
        if baseline is not None and " -> row in audit_events " in row.what
    ]
    if summary:
        console.print("; ".join(summary) + f"; target p99 < {TARGET_P99_S * 1000:.0f} ms")
