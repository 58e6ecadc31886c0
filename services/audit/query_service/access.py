"""Who calls, and whether they may view a scope: authz answers; a refusal is audited (coalesced)
before it is returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from libs.events import codec
from services.audit.access_control import Viewer
from services.audit.domain.errors import PermissionDenied
from services.audit.domain.query import ScopeSelector


@dataclass(frozen=True)
class Caller:
    token: str  # the bearer token, asked about with authz
    request: codec.Request  # where the call came from, for the audit events of its denials


class Authz(Protocol):
    """access_control.AuthzClient: asks the authz service with the caller's own token."""

    async def whoami(self, token: str) -> Viewer: ...

    async def require_view(
        self, token: str, viewer: Viewer, scopes: list[ScopeSelector]
    ) -> None: ...


class Denials(Protocol):
    """denials.DenialRecorder: ACCESS_DENIED events through the outbox, coalesced."""

    async def record(
        self, viewer: Viewer, scope: str, permission: str, reason: str, request: codec.Request
    ) -> bool: ...


class ViewAccess:
    def __init__(self, authz: Authz, denials: Denials) -> None:
        self.authz = authz
        self.denials = denials

    async def viewer(self, caller: Caller) -> Viewer:
        return await self.authz.whoami(caller.token)

    async def require_view(
        self, caller: Caller, viewer: Viewer, scopes: list[ScopeSelector]
    ) -> None:
        try:
            await self.authz.require_view(caller.token, viewer, scopes)
        except PermissionDenied as denied:
            await self.record(caller, viewer, denied)
            raise

    async def record(self, caller: Caller, viewer: Viewer, denied: PermissionDenied) -> None:
        await self.denials.record(
            viewer, denied.scope, denied.permission, denied.message, caller.request
        )
