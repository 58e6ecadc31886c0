"""Reading a topic back in tests; a Kafka broker and a PostgreSQL cluster of a test's own, to stop
and start."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from tests.harness.endpoints import ROOT


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0, settle_s: float = 1.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topic from the beginning: waits for `expected`, then `settle_s`
    longer so that records beyond it (duplicates, extras) are seen too."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline and len(records) < expected:
            batches = await consumer.getmany(timeout_ms=500)
            records += [r for batch in batches.values() for r in batch]
        settle_until = loop.time() + settle_s
        while loop.time() < settle_until:
            batches = await consumer.getmany(timeout_ms=200)
            records += [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    return records


def stack(command: str, **env: str) -> None:
    """scripts/stack COMMAND with these settings; fails the test with its output if it fails."""
    result = subprocess.run(
        [str(ROOT / "scripts/stack"), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OwnBroker:
    stack_dir: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        stack(
            command,
            STACK_DIR=str(self.stack_dir),
            KAFKA_PORT=str(self.port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            KAFKA_HEAP="384m",
        )

    def start(self) -> None:
        self._run("kafka-up")

    def stop(self) -> None:
        self._run("kafka-down")


@contextmanager
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    """A single-node broker for one test, on ports of its own; stopped at the end."""
    broker = OwnBroker(tmp_path / "stack", free_port(), free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of a test's own, to stop and start (scripts/stack pg-up/pg-down)."""

    stack_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://authz_audit:authz_audit@127.0.0.1:{self.port}/authz_audit"

    def _run(self, command: str) -> None:
        stack(command, STACK_DIR=str(self.stack_dir), PG_PORT=str(self.port))

    def start(self) -> None:
        self._run("pg-up")

    def stop(self) -> None:
        self._run("pg-down")

    def wipe(self) -> None:
        self._run("wipe")


@contextmanager
def own_postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    cluster = OwnPostgres(tmp_path / "pgstack", free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.wipe()


@dataclass
class OwnOpa:
    """An OPA server of a test's own, to stop and start (scripts/stack opa-up/opa-down)."""

    stack_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        stack(command, STACK_DIR=str(self.stack_dir), OPA_PORT=str(self.port))

    def start(self) -> None:
        self._run("opa-up")

    def stop(self) -> None:
        self._run("opa-down")


@contextmanager
def own_opa(tmp_path: Path) -> Iterator[OwnOpa]:
    server = OwnOpa(tmp_path / "opastack", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
