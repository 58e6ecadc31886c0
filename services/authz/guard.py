"""Authorization of the service's own API by the RBAC model it serves (dogfooding). A denial is
answered PERMISSION_DENIED and is itself an audit event (ACCESS_DENIED), coalesced per caller
(libs/events/coalescing.py, shared with the audit API). Denials are recorded outside any write
transaction: a denied caller never holds the revision lock while it waits for a connection."""

from __future__ import annotations

import time

from libs.events.coalescing import Coalescer
from services.authz.domain import catalog
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entity_lines import caller_subject
from services.authz.domain.errors import Denial, PermissionDenied
from services.authz.domain.lines import CheckRequest
from services.authz.event_sink import EventSink
from services.authz.policy_state import PolicyState
from services.authz.store.connections import Connections
from services.authz.store.repository import Conn


class Guard:
    def __init__(
        self,
        state: PolicyState,
        db: Connections,
        events: EventSink,
        coalescer: Coalescer | None = None,
    ) -> None:
        self.state = state
        self.db = db
        self.events = events
        # Per replica: one event per caller, scope and permission a minute, 20 per caller.
        self.coalescer = coalescer or Coalescer(window_s=60.0, per_caller=20)

    def allowed(self, call: CallInfo, permission: str, scope: str, resource_id: str = "") -> bool:
        if call.caller.type == "SYSTEM":
            return True
        rtype = catalog.resource_type_of(permission)
        request = CheckRequest(caller_subject(call.caller), scope, rtype, resource_id, permission)
        return self.state.index.check(request)

    async def require(
        self, call: CallInfo, permission: str, scope: str, kind: str, resource_id: str = ""
    ) -> None:
        """Outside a transaction: deny (and record the denial) unless the caller holds it."""
        if self.allowed(call, permission, scope, resource_id):
            return
        denied = PermissionDenied(
            f"the caller lacks {permission} in {scope!r}",
            Denial(permission, scope, kind, resource_id),
        )
        await self.record(call, denied)
        raise denied

    async def record(
        self, call: CallInfo, denied: PermissionDenied, conn: Conn | None = None
    ) -> None:
        """Record a denial as an audit event (unless coalesced), on `conn` when given (which must
        not be in a transaction that holds locks), else on a connection of its own."""
        d = denied.denial
        if d is None or call.caller.type == "SYSTEM":
            return
        held = self.coalescer.admit(
            caller_subject(call.caller), d.scope, d.permission, time.monotonic()
        )
        if held is None:
            return
        labels = {"permission": d.permission, **({"coalesced": str(held)} if held else {})}
        if d.detail:
            labels["detail"] = d.detail
        change = Change("ACCESS_DENIED", d.kind, d.scope, d.resource_id, None, None, labels)
        if conn is not None:
            async with conn.transaction():
                await self.events.record(conn, change, self.state.revision, call)
            return
        async with self.db.acquire() as own, own.transaction():
            await self.events.record(own, change, self.state.revision, call)
