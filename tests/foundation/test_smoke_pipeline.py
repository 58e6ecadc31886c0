"""Smoke test through the whole stack: aiokafka producer -> Kafka -> faust worker -> PostgreSQL.

The worker runs as a real subprocess so that it can be killed with SIGKILL mid-stream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration

WAIT_S = 120.0


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, topic: str, unique_name: str, database_url: str, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "SMOKE_BROKER": kafka_bootstrap,
        "SMOKE_TOPIC": topic,
        "SMOKE_GROUP": f"g-{unique_name}",
        "SMOKE_DSN": database_url,
        "SMOKE_DATADIR": str(tmp_path / "faust"),
    }

    def start() -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(started)}.log"
        command = ["-m", "tests.foundation.smoke_worker", "worker", "--without-web", "-l", "warn"]
        proc = subprocess.Popen(
            [sys.executable, *command, "--logfile", str(log_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    yield producer
    await producer.stop()


async def produce(
    producer: AIOKafkaProducer, topic: str, ids: range, per_second: float = 0
) -> None:
    for i in ids:
        await producer.send(topic, key=f"r{i}".encode(), value=f"payload-{i}".encode())
        if per_second and i % 100 == 0:
            await asyncio.sleep(100 / per_second)
    await producer.flush()


def log_tail(worker: subprocess.Popen[bytes]) -> str:
    """The end of the worker's log file (the last argument of its command line)."""
    assert isinstance(worker.args, list)
    log_path = Path(worker.args[-1])
    return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""


async def stored_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('smoke_records') IS NOT NULL")
        return int(await conn.fetchval("SELECT count(*) FROM smoke_records")) if exists else 0
    finally:
        await conn.close()


async def wait_for_count(dsn: str, at_least: int, worker: subprocess.Popen[bytes]) -> int:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (count := await stored_count(dsn)) < at_least:
        assert worker.poll() is None, f"worker exited with {worker.returncode}: {log_tail(worker)}"
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"only {count} of {at_least} records stored after {WAIT_S:.0f} s")
        await asyncio.sleep(0.2)
    return count


async def test_records_arrive_once_even_when_the_worker_is_killed(
    start_worker: Callable[[], subprocess.Popen[bytes]],
    producer: AIOKafkaProducer,
    topic: str,
    database_url: str,
) -> None:
    # Run 1: 1,000 records, all stored once.
    await produce(producer, topic, range(1000))
    worker = start_worker()
    assert await wait_for_count(database_url, 1000, worker) == 1000
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)

    # Run 2: 5,000 records produced over a few seconds; the worker dies by SIGKILL mid-stream.
    worker = start_worker()
    sending = asyncio.create_task(produce(producer, topic, range(1000, 6000), per_second=1000))
    at_kill = await wait_for_count(database_url, 2500, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert at_kill < 6000, "the worker was not killed in the middle of the stream"

    worker = start_worker()
    await sending
    await wait_for_count(database_url, 6000, worker)
    await asyncio.sleep(2)  # let any redelivered batch land before counting

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT record_id, payload FROM smoke_records")
    finally:
        await conn.close()
    assert len(rows) == 6000
    assert {r["record_id"] for r in rows} == {f"r{i}" for i in range(6000)}
    assert all(r["payload"] == f"payload-{r['record_id'][1:]}".encode() for r in rows)
