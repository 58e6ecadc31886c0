"""One chaos scenario's world: a fresh database and topic on the run's own stack, authz with its
relay, projector workers, a client writing through authz, and the measurements: what was
written (the outbox keeps every committed event), what the trail holds, and how long after a
fault's end every event committed before it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from bench.chaos_env import (
    Process,
    Stack,
    authz_process,
    bootstrap_token,
    free_port,
    wait_serving,
    worker_process,
)
from libs.runtime.bearer_token import BearerToken
from services.audit.chain_verification import verify_account
from services.audit.settings import AuditSettings

ACCOUNTS = ("north", "south", "east")
EPOCH, END = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)
NOT_STORED = (
    "SELECT count(*) FROM outbox o WHERE o.id <= $1 AND o.dead_at IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.event_id = o.event_id)"
)


@dataclass
class Result:
    scenario: str
    written: int
    stored: int
    lost: int
    duplicates: int
    chains: tuple[int, int]  # verified, total
    dead_letters: int
    acked_missing: int  # writes authz acknowledged whose event is not in the trail
    current_after_s: float | None  # from the fault's end; None: not within the deadline


class World:
    def __init__(self, stack: Stack, workdir: Path, name: str) -> None:
        self.stack = stack
        self.workdir = workdir
        self.name = name
        suffix = uuid.uuid4().hex[:8]
        self.topic = f"chaos-{name}-{suffix}"
        self.group = f"chaos-{name}-{suffix}"
        self.port = free_port()
        self.database_url = ""
        self.authz: Process | None = None
        self.workers: list[Process] = []
        self.acked: set[str] = set()
        self._writing: list[asyncio.Task[None]] = []
        self._channels: list[grpc.aio.Channel] = []

    async def create(self) -> None:
        self.database_url = await self.stack.new_database()
        self.authz = authz_process(
            self.stack,
            self.database_url,
            self.topic,
            self.port,
            self.workdir / f"authz-{self.name}.log",
        )

    async def start_authz(self) -> None:
        assert self.authz is not None
        self.authz.start()
        await wait_serving(self.port, self.authz)

    def start_worker(self) -> Process:
        worker = worker_process(
            self.stack, self.database_url, self.topic, self.group, len(self.workers), self.workdir
        )
        worker.start()
        self.workers.append(worker)
        return worker

    async def start_writing(self, per_second: float) -> None:
        log = self.workdir / f"bootstrap-{self.name}.log"
        tokens = await asyncio.gather(
            *(bootstrap_token(self.database_url, self.topic, a, log) for a in ACCOUNTS)
        )
        counter = itertools.count()
        for account, token in zip(ACCOUNTS, tokens, strict=True):
            channel = grpc.aio.insecure_channel(
                f"127.0.0.1:{self.port}",
                interceptors=[BearerToken(token)],  # type: ignore[list-item]
            )
            self._channels.append(channel)
            pause = len(ACCOUNTS) / per_second
            self._writing.append(asyncio.create_task(self._write(channel, account, counter, pause)))

    async def _write(
        self, channel: grpc.aio.Channel, account: str, counter: itertools.count[int], pause: float
    ) -> None:
        users = pb_grpc.UserServiceStub(channel)
        while True:
            identifier = f"u{next(counter)}"
            try:
                await users.CreateUser(
                    pb.CreateUserRequest(
                        request_id=identifier, user=pb.User(account=account, identifier=identifier)
                    ),
                    timeout=3,
                )
                self.acked.add(identifier)
            except grpc.aio.AioRpcError:
                pass  # authz or its database is away: the call failed, nothing was written
            await asyncio.sleep(pause)

    async def stop_writing(self) -> None:
        for task in self._writing:
            task.cancel()
        await asyncio.gather(*self._writing, return_exceptions=True)
        for channel in self._channels:
            await channel.close(None)

    async def _query(self, sql: str, *args: object) -> int | None:
        """One number from the database, or None while it cannot be reached."""
        try:
            conn = await asyncpg.connect(self.database_url, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None
        try:
            value = await conn.fetchval(sql, *args, timeout=10)
            return int(value or 0)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return None
        finally:
            with contextlib.suppress(Exception):
                await conn.close()

    async def mark(self) -> int:
        """The last outbox row committed so far."""
        while True:
            last = await self._query("SELECT coalesce(max(id), 0) FROM outbox")
            if last is not None:
                return last
            await asyncio.sleep(0.2)

    async def until_current(self, mark: int, since: float, timeout_s: float) -> float | None:
        """Seconds from `since` until every event up to the mark is stored."""
        loop = asyncio.get_running_loop()
        while loop.time() - since < timeout_s:
            if await self._query(NOT_STORED, mark) == 0:
                return loop.time() - since
            await asyncio.sleep(0.1)
        return None

    async def result(self, current_after_s: float | None, drain_s: float) -> Result:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        mark = await self.mark()
        while True:
            if await self._query(NOT_STORED, mark) == 0 or loop.time() >= deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1)  # a redelivered batch would land now
        conn = await asyncpg.connect(self.database_url)
        try:
            written = await conn.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NULL")
            stats = await conn.fetchrow(
                "SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM audit_events"
            )
            lost = await conn.fetchval(NOT_STORED, mark)
            resources = {
                r["resource_id"] for r in await conn.fetch("SELECT resource_id FROM audit_events")
            }
            dead = await conn.fetchval(
                "SELECT (SELECT count(*) FROM audit_dead_letters)"
                " + (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL)"
            )
            accounts = [
                r["account"] for r in await conn.fetch("SELECT account FROM audit_chain_heads")
            ]
            verified = 0
            keys = AuditSettings().chain_keys()  # the workers' keys (the same environment)
            for account in accounts:
                check = await verify_account(conn, account, EPOCH, END, keys)
                verified += check.checked > 0 and check.broken is None
        finally:
            await conn.close()
        assert stats is not None
        return Result(
            self.name,
            written,
            stats["n"],
            lost,
            stats["n"] - stats["d"],
            (verified, len(accounts)),
            dead,
            len(self.acked - resources),
            current_after_s,
        )

    async def close(self) -> None:
        await self.stop_writing()
        for process in [*self.workers, *([self.authz] if self.authz else [])]:
            await process.stop()
