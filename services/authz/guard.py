"""Authorization of the service's own API by the RBAC model it serves (dogfooding). A denial is
answered PERMISSION_DENIED and is itself an audit event (ACCESS_DENIED)."""

from __future__ import annotations

import asyncpg

from services.authz.domain import catalog, lines, scopes
from services.authz.domain.audit import Caller, CallInfo, Change
from services.authz.domain.errors import PermissionDenied
from services.authz.domain.lines import CheckRequest
from services.authz.event_sink import EventSink
from services.authz.policy_state import PolicyState


def caller_subject(call: CallInfo) -> str:
    return subject_of_caller(call.caller)


def subject_of_caller(c: Caller) -> str:
    if c.type == "USER":
        return lines.user_subject(scopes.account(c.scope), c.identifier)
    return lines.service_account_subject(c.scope, c.identifier)


class Guard:
    def __init__(self, state: PolicyState, pool: asyncpg.Pool, events: EventSink) -> None:
        self.state = state
        self.pool = pool
        self.events = events

    def allowed(self, call: CallInfo, permission: str, scope: str, resource_id: str = "") -> bool:
        if call.caller.type == "SYSTEM":
            return True
        rtype = catalog.resource_type_of(permission)
        request = CheckRequest(caller_subject(call), scope, rtype, resource_id, permission)
        return self.state.index.check(request)

    async def require(
        self, call: CallInfo, permission: str, scope: str, kind: str, resource_id: str = ""
    ) -> None:
        if self.allowed(call, permission, scope, resource_id):
            return
        await self.record_denial(call, permission, scope, kind, resource_id)
        raise PermissionDenied(f"the caller lacks {permission} in {scope!r}")

    async def record_denial(
        self, call: CallInfo, permission: str, scope: str, kind: str, resource_id: str
    ) -> None:
        change = Change(
            "ACCESS_DENIED", kind, scope, resource_id, None, None, {"permission": permission}
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self.events.record(conn, change, self.state.revision, call)
