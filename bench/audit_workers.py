"""Projector worker processes (`python -m services.audit worker`) for the audit benchmark, and
how far the store has got.

The workers are started as the audit tests start them (tests/audit/helpers.py Workers.start):
AUDIT_* environment, the faust app's state and each worker's log in a directory of the
benchmark's own. A `ProjectorWorkers` block kills every worker it started when it ends, also on an
error or Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import asyncpg

from bench.endpoints import ROOT

STOP_TIMEOUT_S = 10.0


class ProjectorWorkers:
    """Worker processes of one consumer group on one topic and database."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        database_url: str,
        workdir: Path,
        batch_size: int,
    ) -> None:
        self.env = {
            **os.environ,
            "AUDIT_DATABASE_URL": database_url,
            "AUDIT_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "AUDIT_TOPIC": topic,
            "AUDIT_DEAD_LETTER_TOPIC": f"{topic}.dlq",
            "AUDIT_GROUP_ID": group,
            "AUDIT_SESSION_TIMEOUT_S": "6",
            "AUDIT_LOG_LEVEL": "WARNING",
            "AUDIT_BATCH_SIZE": str(batch_size),
        }
        self.group = group
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ProjectorWorkers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def _path(self, n: int, what: str) -> Path:
        return self.workdir / f"{self.group}-{what}-{n}"

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.started)
        env = {**self.env, "AUDIT_DATADIR": str(self._path(n, "faust")), "AUDIT_HEALTH_PORT": "0"}
        with self._path(n, "log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "services.audit", "worker"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.started.append(proc)
        return proc

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.started)

    def logs(self, tail: int = 2000) -> str:
        return "\n".join(
            f"--- worker {n} (exit {proc.poll()}):\n"
            + self._path(n, "log").read_text(errors="replace")[-tail:]
            for n, proc in enumerate(self.started)
        )

    def cpu_seconds(self) -> float:
        """User + system CPU of the live workers so far (Linux /proc; NaN elsewhere)."""
        try:
            return sum(process_cpu_seconds(proc.pid) for proc in self.started)
        except (OSError, ValueError, IndexError):
            return float("nan")

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
        for proc in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STOP_TIMEOUT_S)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine since boot (Linux /proc/stat; NaN elsewhere):
    the CPU share a phase kept busy is the ratio of their differences."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


async def stored_events(conn: asyncpg.Connection) -> int:
    """How many events the store holds, from the chain heads: each account's head counts the
    rows of its chain and moves in the transaction that inserts them, so this is count(*) of
    audit_events at a snapshot, read from about as many rows as there are accounts."""
    return int(await conn.fetchval("SELECT coalesce(sum(seq), 0) FROM audit_chain_heads"))


async def empty_store(conn: asyncpg.Connection) -> None:
    await conn.execute("TRUNCATE audit_events, audit_chain_heads, audit_dead_letters")
