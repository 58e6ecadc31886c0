"""Who the caller is and which scopes it may read, asked of the authz service with the caller's
own token: WhoAmI, then core_audit_view about itself at each queried scope.

"Everything below a scope" is asked as Explain at the scope itself: some grant must cover it
with its child scopes. (Probing a made-up child scope such as `acct/_children` answered for a
real scope of that name whenever one existed, since any valid name can be a real scope.)"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from authz.v1 import authz_pb2 as apb
from authz.v1 import authz_pb2_grpc as apb_grpc
from services.audit.domain.errors import PermissionDenied, Unauthenticated
from services.audit.domain.query import ScopeSelector

AUDIT_VIEW = "core_audit_view"
AUDIT_TYPE = "AUDIT"
T = TypeVar("T")


@dataclass(frozen=True)
class Viewer:
    """Who is calling, as authz knows it (plain values: no protobuf past this adapter)."""

    type: str  # USER or SERVICE_ACCOUNT
    identifier: str
    scope: str  # a user's account, a service account's scope
    email: str = ""

    @property
    def key(self) -> str:
        """E.g. "USER:acct/alice": the owner of saved filters."""
        return f"{self.type}:{self.scope}/{self.identifier}"


async def _ask(call: Awaitable[T]) -> T:
    """An authz answer; a bad token is our caller's UNAUTHENTICATED (with our one message).
    Any other failure leaves as it came: the error boundary keeps its code (authz away stays
    UNAVAILABLE, a deadline DEADLINE_EXCEEDED)."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise Unauthenticated() from None
        raise


class AuthzClient:
    """Over a channel of libs.runtime.authz_channel: it gives every call a deadline and retries
    UNAVAILABLE."""

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
        me = await _ask(self.access.WhoAmI(apb.WhoAmIRequest(), metadata=_bearer(token)))
        kind = apb.PrincipalType.Name(me.principal.type).removeprefix("PRINCIPAL_TYPE_")
        viewer = Viewer(kind, me.principal.identifier, me.principal.scope, me.email)
        if len(self._viewers) > 10_000:  # bounded: forget everything rather than grow
            self._viewers.clear()
        self._viewers[digest] = (time.monotonic(), viewer)
        return viewer

    def _item(self, viewer: Viewer, scope: str) -> apb.CheckRequest:
        principal_type = apb.PrincipalType.Value(f"PRINCIPAL_TYPE_{viewer.type}")
        return apb.CheckRequest(
            principal=apb.Principal(
                type=principal_type, identifier=viewer.identifier, scope=viewer.scope
            ),
            resource_scope=scope,
            resource_type=AUDIT_TYPE,
            permission=AUDIT_VIEW,
        )

    async def require_view(self, token: str, viewer: Viewer, scopes: list[ScopeSelector]) -> None:
        """core_audit_view at every queried scope, and below it when children are included."""
        subtree = [s.path for s in scopes if s.include_children and len(s.parts) < 3]
        exact = [s.path for s in scopes if s.path not in subtree]
        if exact:
            await self._require_exact(token, viewer, exact)
        for path in subtree:
            await self._require_subtree(token, viewer, path)

    async def _require_exact(self, token: str, viewer: Viewer, paths: list[str]) -> None:
        answer = await _ask(
            self.access.BatchCheck(
                apb.BatchCheckRequest(items=[self._item(viewer, p) for p in paths]),
                metadata=_bearer(token),
            )
        )
        for path, result in zip(paths, answer.results, strict=True):
            if not result.allowed:
                raise PermissionDenied(f"the caller lacks {AUDIT_VIEW} in {path!r}", scope=path)

    async def _require_subtree(self, token: str, viewer: Viewer, path: str) -> None:
        try:
            answer = await _ask(
                self.access.Explain(self._item(viewer, path), metadata=_bearer(token))
            )
        except grpc.aio.AioRpcError as exc:
            # Another account's scope: authz refuses the question itself.
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            answer = apb.ExplainResponse(allowed=False)
        if not answer.allowed:
            raise PermissionDenied(f"the caller lacks {AUDIT_VIEW} in {path!r}", scope=path)
        if not any(g.include_child_scopes for g in answer.grants):
            raise PermissionDenied(
                f"the caller lacks {AUDIT_VIEW} in {path!r} and below it", scope=path
            )


def _bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)
