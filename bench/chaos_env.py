"""The real processes the chaos scenarios break: a Kafka broker and a PostgreSQL cluster of the
run's own (scripts/stack on free ports, so stopping them touches nobody else), authz (gRPC, with
its outbox relay) and projector workers, each a process of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    pass


class StackUnavailable(StackError):
    """The run's own broker or database could not be started (no Java, no PostgreSQL...)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """scripts/stack with a directory and ports of its own."""

    workdir: Path
    kafka_port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def url(self, database: str = "authz_audit") -> str:
        return f"postgresql://authz_audit:authz_audit@127.0.0.1:{self.pg_port}/{database}"

    async def run(self, command: str) -> None:
        env = {
            **os.environ,
            "STACK_DIR": str(self.workdir / "stack"),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP": "384m",
            "PG_PORT": str(self.pg_port),
        }
        proc = await asyncio.create_subprocess_exec(
            str(ROOT / "scripts/stack"),
            command,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise StackError(f"scripts/stack {command} failed:\n{out.decode(errors='replace')}")

    async def new_database(self) -> str:
        name = f"chaos_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.url(name)


@dataclass
class Process:
    """A service process whose output goes to a log file."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.args],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, wait_s: float = 20) -> None:
        self.send(sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            if not self.alive() or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        if self.alive():
            self.send(signal.SIGKILL)
            await asyncio.sleep(0.2)


def authz_process(stack: Stack, database_url: str, topic: str, port: int, log: Path) -> Process:
    return Process(
        ["services.authz", "serve"],
        {
            "AUTHZ_DATABASE_URL": database_url,
            "AUTHZ_PORT": str(port),
            "AUTHZ_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
            "AUTHZ_AUDIT_TOPIC": topic,
            "AUTHZ_RUN_RELAY": "true",
            "AUTHZ_LOG_LEVEL": "WARNING",
            "AUTHZ_METRICS_PORT": "0",  # a free port: scenarios start several
        },
        log,
    )


def worker_process(
    stack: Stack, database_url: str, topic: str, group: str, n: int, workdir: Path
) -> Process:
    return Process(
        ["services.audit", "worker"],
        {
            "AUDIT_DATABASE_URL": database_url,
            "AUDIT_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
            "AUDIT_TOPIC": topic,
            "AUDIT_DEAD_LETTER_TOPIC": f"{topic}.dlq",
            "AUDIT_GROUP_ID": group,
            "AUDIT_DATADIR": str(workdir / f"faust-{group}-{n}"),
            "AUDIT_SESSION_TIMEOUT_S": "6",
            "AUDIT_HEALTH_PORT": "0",
            "AUDIT_LOG_LEVEL": "WARNING",
        },
        workdir / f"worker-{group}-{n}.log",
    )


async def wait_serving(port: int, process: Process, timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if not process.alive():
                raise RuntimeError(f"{process.args} exited; see {process.log}")
            try:
                answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if loop.time() > deadline:
                raise RuntimeError(f"{process.args} not serving after {timeout_s} s")
            await asyncio.sleep(0.2)


async def bootstrap_token(database_url: str, topic: str, account: str, log: Path) -> str:
    """The account administrator's token, from `python -m services.authz bootstrap`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.authz",
        "bootstrap",
        "--account",
        account,
        cwd=ROOT,
        env={**os.environ, "AUTHZ_DATABASE_URL": database_url, "AUTHZ_AUDIT_TOPIC": topic},
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("ab"),
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bootstrap of {account} failed; see {log}")
    return out.decode().strip().splitlines()[-1]
