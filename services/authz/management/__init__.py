"""Management of the RBAC entities: one small command module per operation (create, update and
membership, delete with cascade, reads), over the store (`store/repository.py`), each with its
collaborators passed in. `Management` assembles them for the servicers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from services.authz.domain import entity_lines
from services.authz.domain.audit import SYSTEM_CALL
from services.authz.event_sink import EventSink
from services.authz.granting import Granting
from services.authz.guard import Guard
from services.authz.management.create import Create
from services.authz.management.delete import Delete
from services.authz.management.lookup import fetch
from services.authz.management.operation_access import PLATFORM_SCOPE, OperationAccess
from services.authz.management.reads import Reads, decode_page_token, encode_page_token
from services.authz.management.transaction import (
    AtRevision,
    ChangeReview,
    Changes,
    Writer,
    change_of,
)
from services.authz.management.update import Update
from services.authz.policy_state import PolicyState
from services.authz.store.connections import Connections
from services.authz.store.repository import Tx

__all__ = [
    "PLATFORM_SCOPE",
    "AtRevision",
    "Changes",
    "Management",
    "Writer",
    "change_of",
    "decode_page_token",
    "encode_page_token",
    "fetch",
]

MANAGED_SOURCE = "managed"


class _Unchanged(Exception):
    """Nothing to write: roll back, so that no revision is spent."""


class Management:
    """The management commands, assembled from their collaborators."""

    def __init__(
        self,
        db: Connections,
        state: PolicyState,
        events: EventSink,
        guard: Guard,
        forget_tokens: Callable[[list[str]], None] = lambda _: None,
        review: ChangeReview | None = None,
    ) -> None:
        self.db = db
        self.guard = guard
        self.writer = Writer(db, state, events, guard, review)
        access = OperationAccess(guard)
        granting = Granting(state, fetch)
        self.create = Create(self.writer, access, granting, state)
        updates = Update(self.writer, access, granting, state)
        self.update = updates
        self.change_members = updates.members
        self.delete = Delete(self.writer, access, forget_tokens)
        self.reads = Reads(db, access, state)
        self.get = self.reads.get
        self.list = self.reads.list

    async def sync_managed_lines(self) -> None:
        """Store the managed roles' g2 lines (defined in code) in casbin_rule, so that the table
        holds the whole policy; a write only when the catalog changed."""

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[None, None]:
            lines = entity_lines.managed_role_lines()
            changes.merge(await tx.replace_lines(MANAGED_SOURCE, lines))
            if not changes.added and not changes.removed:
                raise _Unchanged
            return None, None  # start-up housekeeping, not a call: no audit event

        with contextlib.suppress(_Unchanged):
            await self.writer.write(op, SYSTEM_CALL)
