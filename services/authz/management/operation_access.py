"""The permission each management operation needs, asked of the caller before anything is
looked up (DESIGN section 6: answers reveal nothing of other tenants)."""

from __future__ import annotations

from services.authz.domain import required_permissions
from services.authz.domain.audit import CallInfo
from services.authz.domain.required_permissions import Verb
from services.authz.guard import Guard

# The permission registry is global: only a platform operator, bound in this reserved account
# (python -m services.authz bootstrap-operator), holds core_permission_manage there.
PLATFORM_SCOPE = "_platform"


class OperationAccess:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    async def authorize(
        self, call: CallInfo, kind: str, verb: Verb, scope: str, identifier: str = ""
    ) -> None:
        """The operation's permission at the entity's scope (the registry's at _platform)."""
        permission = required_permissions.PERMISSIONS[(kind, verb)]
        if permission is None:
            return
        if kind == "permission":
            scope = PLATFORM_SCOPE
        await self.guard.require(call, permission, scope, kind, identifier)
