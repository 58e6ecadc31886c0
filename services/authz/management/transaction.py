"""One write, one transaction: the entity, its Casbin lines, the policy log and the audit event
commit together or not at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import Entity, Stored, to_body
from services.authz.domain.errors import PermissionDenied
from services.authz.domain.governance import PolicyUnavailable, PolicyViolation
from services.authz.domain.lines import PolicyLine
from services.authz.event_sink import EventSink
from services.authz.guard import Guard
from services.authz.policy_state import PolicyState
from services.authz.store.connections import Connections
from services.authz.store.repository import Tx

T = TypeVar("T")


@dataclass
class Changes:
    """The Casbin line diff of one write, logged for the replicas."""

    added: list[PolicyLine] = field(default_factory=list)
    removed: list[PolicyLine] = field(default_factory=list)

    def merge(self, diff: tuple[list[PolicyLine], list[PolicyLine]]) -> None:
        self.removed += diff[0]
        self.added += diff[1]


@dataclass(frozen=True)
class AtRevision:
    """An entity as of a policy revision: what a write made, or what a read found."""

    stored: Stored
    revision: int


Operation = Callable[[Tx, int, Changes], Awaitable[tuple[T, Change | None]]]

BINDING_ACTIONS = {
    "CREATE": "ROLE_ASSIGNMENT_CREATE",
    "UPDATE": "ROLE_ASSIGNMENT_UPDATE",
    "DELETE": "ROLE_ASSIGNMENT_DELETE",
}


def change_of(
    action: str, entity: Entity, old: Entity | None, new: Entity | None, **labels: str
) -> Change:
    """The audit event's view of a write."""
    if entity.kind == "role_binding":
        action = BINDING_ACTIONS.get(action, action)
    return Change(
        action,
        entity.kind,
        entity.scope,
        entity.identifier,
        to_body(old) if old is not None else None,
        to_body(new) if new is not None else None,
        labels,
    )


class ChangeReview(Protocol):
    """Governance's port into the write (services/authz/governance/gate.py)."""

    async def review(self, tx: Tx, revision: int, change: Change, call: CallInfo) -> Change: ...

    async def after_commit(self, change: Change) -> None: ...


class Writer:
    def __init__(
        self,
        db: Connections,
        state: PolicyState,
        events: EventSink,
        guard: Guard,
        review: ChangeReview | None = None,
    ) -> None:
        self.db = db
        self.state = state
        self.events = events
        self.guard = guard
        self.review = review

    async def write(self, op: Operation[T], call: CallInfo) -> T:
        """Run `op` in one transaction. Once the revision lock is held this replica catches
        up, so that checks made inside the write (delegation) see every earlier write. A denial
        inside the write is recorded after the rollback, on the same connection: no lock is held
        while waiting for another. Governance reviews the change before it commits; a refusal
        is recorded the same way, after the rollback."""
        async with self.db.acquire() as conn:
            try:
                async with conn.transaction():
                    tx = Tx(conn)
                    revision = await tx.bump_revision()
                    await self.state.catch_up(conn)
                    changes = Changes()
                    result, change = await op(tx, revision, changes)
                    if change is not None and self.review is not None:
                        change = await self.review.review(tx, revision, change, call)
                    await tx.log_change(revision, changes.added, changes.removed)
                    if change is not None:
                        await self.events.record(conn, change, revision, call)
            except PermissionDenied as denied:
                await self.guard.record(call, denied, conn)
                raise
            except (PolicyViolation, PolicyUnavailable) as refused:
                async with conn.transaction():
                    await self.events.record(conn, refused.record, self.state.revision, call)
                raise
            await self.state.catch_up(conn)
        if change is not None and self.review is not None:
            await self.review.after_commit(change)
        return result
