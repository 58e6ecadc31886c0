"""The policy as this replica sees it: the evaluator's index, the permission registry and the
revision they reflect. Changes arrive only through the policy log, in revision order, whether
they were written by this replica or another (which NOTIFYs)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from libs.pg_connections import connection_lost
from services.authz.domain import catalog
from services.authz.domain.errors import RevisionNotReached
from services.authz.domain.lines import PolicyLine
from services.authz.domain.policy_index import PolicyIndex
from services.authz.metrics import policy_advanced, policy_caught_up
from services.authz.store import repository
from services.authz.store.casbin_adapter import fetch_lines
from services.authz.store.repository import NOTIFY_CHANNEL, Conn

log = logging.getLogger(__name__)

PERMISSION = "perm"  # pseudo-ptype in the policy log: a registry entry, not a Casbin line


@contextmanager
def long_lived_allocations() -> Iterator[None]:
    """Pause the garbage collector while the policy is loaded, then exempt what was loaded from
    later collections: the index is millions of acyclic objects that live as long as the
    process, and scanning them would take half of a load and stall requests afterwards."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


class PolicyState:
    def __init__(self) -> None:
        self.index = PolicyIndex()
        self.permissions: set[str] = {p.name for p in catalog.SEEDED_PERMISSIONS}
        self.resource_types: set[str] = set()
        self.revision = 0
        self._applying = asyncio.Lock()
        self._advanced = asyncio.Condition()
        self._refresh_types()

    def _refresh_types(self) -> None:
        self.resource_types = {catalog.resource_type_of(p) for p in self.permissions}

    async def load(self, conn: Conn) -> None:
        """Everything, from one consistent snapshot."""
        with long_lived_allocations():
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                lines = await fetch_lines(conn)
                names = await repository.Tx(conn).permission_names()
                revision = await repository.current_revision(conn)
            async with self._applying:
                self.index = PolicyIndex(lines)
                del lines
                self.permissions = {p.name for p in catalog.SEEDED_PERMISSIONS} | set(names)
                self._refresh_types()
                await self._advance(revision)
        policy_caught_up()
        log.info("policy loaded: %d lines at revision %d", len(self.index), revision)

    async def catch_up(self, conn: Conn) -> None:
        """Apply the policy log entries newer than this replica's revision."""
        async with self._applying:
            for row in await repository.log_since(conn, self.revision):
                self._apply(
                    repository.parse_log_lines(row["added"]),
                    repository.parse_log_lines(row["removed"]),
                )
                await self._advance(row["revision"])
        policy_caught_up()

    def _apply(self, added: list[PolicyLine], removed: list[PolicyLine]) -> None:
        perms_added = {line.values[0] for line in added if line.ptype == PERMISSION}
        perms_removed = {line.values[0] for line in removed if line.ptype == PERMISSION}
        if perms_added or perms_removed:
            self.permissions = (self.permissions - perms_removed) | perms_added
            self._refresh_types()
        self.index.apply(
            [line for line in added if line.ptype != PERMISSION],
            [line for line in removed if line.ptype != PERMISSION],
        )

    async def _advance(self, revision: int) -> None:
        async with self._advanced:
            self.revision = max(self.revision, revision)
            self._advanced.notify_all()
        policy_advanced(self.revision, len(self.index))

    async def wait_for(self, revision: int, wait_s: float) -> None:
        if self.revision >= revision:
            return
        try:
            async with self._advanced:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self.revision >= revision), wait_s
                )
        except TimeoutError:
            raise RevisionNotReached(
                f"revision {revision} is not visible yet (this replica is at {self.revision})"
            ) from None


async def follow_policy_log(
    pool: asyncpg.Pool, state: PolicyState, poll_s: float, reconnect_max_s: float = 5.0
) -> None:
    """Catch up on NOTIFY from other replicas, and every poll_s seconds as a safety net.

    The LISTEN connection can be lost (a PostgreSQL restart, a terminated backend, a network
    cut) without an error anywhere else: it is then replaced, and the replica catches up at
    once, since the notifications sent meanwhile are gone."""
    wake = asyncio.Event()
    lost = asyncio.Event()

    def on_notify(*_: object) -> None:
        wake.set()

    def on_lost(*_: object) -> None:
        lost.set()
        wake.set()

    backoff = 0.1
    listener: PoolConnectionProxy | None = None
    try:
        while True:
            if listener is None or lost.is_set() or connection_lost(listener):
                listener = await _relisten(pool, listener, on_notify, on_lost)
                if listener is None:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, reconnect_max_s)
                    continue
                lost.clear()
                backoff = 0.1
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), poll_s)
            wake.clear()
            try:
                async with pool.acquire() as conn:
                    await state.catch_up(conn)
            except Exception:  # e.g. a connection broken mid-query: this task must go on
                log.warning("catching up from the policy log failed; retrying", exc_info=True)
                lost.set()  # the listener likely went with it: check it before waiting
    finally:
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, on_notify)
            with contextlib.suppress(Exception):
                await pool.release(listener)


async def _relisten(
    pool: asyncpg.Pool,
    old: PoolConnectionProxy | None,
    on_notify: Callable[..., None],
    on_lost: Callable[..., None],
) -> PoolConnectionProxy | None:
    """A fresh LISTENing connection, or None when PostgreSQL cannot be reached yet."""
    if old is not None:
        log.warning("the policy log listener was lost; listening again")
        with contextlib.suppress(Exception):
            await pool.release(old)
    try:
        listener: PoolConnectionProxy = await pool.acquire()
    except Exception:  # PostgreSQL away: try again after a pause
        return None
    try:
        listener.add_termination_listener(on_lost)
        await listener.add_listener(NOTIFY_CHANNEL, on_notify)
    except Exception:
        with contextlib.suppress(Exception):
            await pool.release(listener)
        return None
    return listener
