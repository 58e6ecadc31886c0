"""Who the caller is and which scopes it may read, asked of the authz service with the caller's
own token: WhoAmI, then one BatchCheck of core_audit_view about itself."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import grpc

from authz.v1 import authz_pb2 as apb
from authz.v1 import authz_pb2_grpc as apb_grpc
from services.audit.domain.errors import PermissionDenied, Unauthenticated
from services.audit.domain.query import ScopeSelector

AUDIT_VIEW = "core_audit_view"
CHILD_PROBE = "_children"  # a scope below any scope: "may view everything beneath"


@dataclass(frozen=True)
class Viewer:
    principal: apb.Principal
    key: str  # e.g. "USER:acct/alice": owner of saved filters


class AuthzClient:
    def __init__(self, channel: grpc.aio.Channel, cache_s: float = 5.0) -> None:
        self.access = apb_grpc.AccessServiceStub(channel)
        self.cache_s = cache_s
        self._viewers: dict[bytes, tuple[float, Viewer]] = {}

    async def whoami(self, token: str) -> Viewer:
        """The caller behind a bearer token; any failure is the same Unauthenticated."""
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._viewers.get(digest)
        if cached and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        try:
            me = await self.access.WhoAmI(
                apb.WhoAmIRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated() from None
            raise
        kind = apb.PrincipalType.Name(me.principal.type).removeprefix("PRINCIPAL_TYPE_")
        viewer = Viewer(me.principal, f"{kind}:{me.principal.scope}/{me.principal.identifier}")
        self._viewers[digest] = (time.monotonic(), viewer)
        return viewer

    async def require_view(self, token: str, viewer: Viewer, scopes: list[ScopeSelector]) -> None:
        """core_audit_view at every queried scope, and below it when children are included."""
        probes: list[str] = []
        for s in scopes:
            probes.append(s.path)
            if s.include_children and len(s.parts) < 3:
                probes.append(f"{s.path}/{CHILD_PROBE}")
        items = [
            apb.CheckRequest(
                principal=viewer.principal,
                resource_scope=path,
                resource_type="AUDIT",
                permission=AUDIT_VIEW,
            )
            for path in probes
        ]
        answer = await self.access.BatchCheck(
            apb.BatchCheckRequest(items=items),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=5,
        )
        for path, result in zip(probes, answer.results, strict=True):
            if not result.allowed:
                shown = path.removesuffix(f"/{CHILD_PROBE}")
                below = " and below it" if path.endswith(CHILD_PROBE) else ""
                raise PermissionDenied(f"the caller lacks {AUDIT_VIEW} in {shown!r}{below}")
