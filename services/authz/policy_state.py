"""The policy as this replica sees it: the evaluator's index, the permission registry and the
revision they reflect. Changes arrive only through the policy log, in revision order, whether
they were written by this replica or another (which NOTIFYs)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from services.authz.domain import catalog
from services.authz.domain.errors import RevisionNotReached
from services.authz.domain.lines import PolicyLine
from services.authz.domain.policy_index import PolicyIndex
from services.authz.store import repository
from services.authz.store.casbin_adapter import fetch_lines
from services.authz.store.repository import Conn

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
