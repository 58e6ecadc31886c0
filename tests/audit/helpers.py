"""Shared by the audit tests: events to send, a projector worker process, the store's state."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer

from audit.v1 import event_pb2 as ev
from libs.events import codec
from services.audit.domain.chain import first_broken_link
from services.audit.lag_probe import GroupLag
from services.audit.settings import AuditSettings
from services.audit.store import repository
from tests.harness.endpoints import ROOT

# The key the services use when none is configured (the development key).
KEYS = AuditSettings().chain_keys()
ACCOUNTS = [f"acct{i:02d}" for i in range(20)]
T = TypeVar("T")


def make_event(i: int, account: str | None = None) -> ev.AuditEvent:
    return codec.new_event(
        module="test",
        scope=account or ACCOUNTS[i % len(ACCOUNTS)],
        principal=ev.Principal(type=ev.PRINCIPAL_TYPE_USER, identifier=f"user{i % 7}"),
        action=ev.ACTION_CREATE,
        resource_type="PIPELINE",
        resource_identifier=f"p{i}",
        old_state=None,
        new_state={"n": i},
        request=codec.Request("127.0.0.1", "test", f"r{i}"),
    )


async def produce(
    bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]], per_second: float = 0
) -> None:
    """Send (key, value) pairs with acks=all; optionally spread over time."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        for n, (key, value) in enumerate(payloads):
            await producer.send(topic, key=key, value=value)
            if per_second and n % 100 == 99:
                await asyncio.sleep(100 / per_second)
        await producer.flush()
    finally:
        await producer.stop()


def keyed(events: list[ev.AuditEvent]) -> list[tuple[bytes, bytes]]:
    return [(codec.key_of(e), e.SerializeToString()) for e in events]


@dataclass
class Workers:
    """Projector worker processes of one consumer group."""

    bootstrap: str
    topic: str
    group: str
    database_url: str
    tmp_path: Path
    started: list[subprocess.Popen[bytes]]

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        n = len(self.started)
        env = {
            **os.environ,
            "AUDIT_DATABASE_URL": self.database_url,
            "AUDIT_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "AUDIT_TOPIC": self.topic,
            "AUDIT_DEAD_LETTER_TOPIC": f"{self.topic}.dlq",
            "AUDIT_GROUP_ID": self.group,
            "AUDIT_DATADIR": str(self.tmp_path / f"faust-{n}"),
            "AUDIT_SESSION_TIMEOUT_S": "6",
            "AUDIT_LOG_LEVEL": "WARNING",
            "AUDIT_BATCH_SIZE": "500",
            "AUDIT_HEALTH_PORT": "-1",
            **extra_env,
        }
        log = (self.tmp_path / f"worker-{n}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.audit", "worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.started.append(proc)
        return proc

    def log(self, n: int) -> str:
        return (self.tmp_path / f"worker-{n}.log").read_text(errors="replace")[-4000:]

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def count_rows(database_url: str, table: str = "audit_events") -> int:
    try:
        conn = await asyncpg.connect(database_url)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return 0
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def wait_rows(
    database_url: str,
    at_least: int,
    workers: Workers,
    timeout_s: float = 120,
    table: str = "audit_events",
) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (count := await count_rows(database_url, table)) < at_least:
        alive = [p for p in workers.started if p.poll() is None]
        assert alive, f"no worker alive: {workers.log(len(workers.started) - 1)}"
        assert loop.time() < deadline, f"{count} of {at_least} rows after {timeout_s} s"
        await asyncio.sleep(0.2)
    return count


async def assert_store_holds_exactly(database_url: str, events: list[ev.AuditEvent]) -> None:
    """Every event once, and every account's chain valid from its genesis."""
    conn = await asyncpg.connect(database_url)
    try:
        ids = [str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM audit_events")]
        assert len(ids) == len(set(ids)), "an event is stored twice"
        assert set(ids) == {e.event_id for e in events}, "lost or invented events"
        for account in {e.scope.account for e in events}:
            rows = await repository.chain_rows(
                conn, account, datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
            )
            assert rows[0].seq == 1
            assert first_broken_link(rows, KEYS) is None, account
    finally:
        await conn.close()


async def wait_all_committed(workers: Workers, timeout_s: float = 60) -> None:
    """Until the group has committed the offset of every event on the topic: no batch is left
    that could be delivered again, so what the store holds now is final."""
    probe = GroupLag(workers.bootstrap, workers.group, workers.topic)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while (sample := await probe.sample()) is None or sample[0] > 0:
            assert loop.time() < deadline, (
                f"offsets not all committed after {timeout_s} s: {sample}"
            )
            await asyncio.sleep(0.1)
    finally:
        await probe.close()


def on_new_loop(
    database_url: str, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, T]]
) -> T:
    """Hypothesis runs in a thread of its own (the test's loop keeps running): a connection
    per example, on a loop of its own."""

    async def run() -> T:
        conn = await asyncpg.connect(database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


async def dead_letters(database_url: str) -> list[asyncpg.Record]:
    """The dead-letter table's payloads and reasons, in the order they were written."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT payload, reason FROM audit_dead_letters ORDER BY id")
    finally:
        await conn.close()
