"""Thin handlers of the AccessService."""

from __future__ import annotations

from typing import Any

import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from services.authz.access import Access, AccessQuery
from services.authz.domain.audit import SYSTEM_CALL, CallInfo
from services.authz.domain.errors import InvalidArgument, PermissionDenied
from services.authz.domain.guards import CHECK_FOR_OTHERS
from services.authz.domain.lines import TREE
from services.authz.grpc_api.call_info import call_info
from services.authz.grpc_api.converters import caller_principal_type, principal_from
from services.authz.guard import caller_subject
from services.authz.management import Management

Context = grpc.aio.ServicerContext[Any, Any]


def item_error(exc: InvalidArgument | PermissionDenied) -> pb.ItemError:
    if isinstance(exc, InvalidArgument):
        code, field = grpc.StatusCode.INVALID_ARGUMENT, exc.field
    else:
        code, field = grpc.StatusCode.PERMISSION_DENIED, "principal"
    return pb.ItemError(code=code.value[0], message=exc.message, field=field)


def query_from(m: pb.CheckRequest) -> AccessQuery:
    return AccessQuery(
        principal_from(m.principal),
        m.resource_scope,
        m.resource_type,
        m.resource_identifier,
        m.permission,
    )


class AccessServicer(pb_grpc.AccessServiceServicer):
    def __init__(self, access: Access, management: Management, max_wait_s: float) -> None:
        self.access = access
        self.management = management
        self.guard = management.guard
        self.max_wait_s = max_wait_s

    def _for_someone_else(self, query: AccessQuery, call: CallInfo) -> bool:
        return self.access.subject(query.principal, query.resource_scope) != caller_subject(call)

    async def _may_ask(self, query: AccessQuery, context: Context) -> None:
        """Asking about oneself needs nothing more; about another principal, a permission."""
        call = call_info(context)
        if self._for_someone_else(query, call):
            await self.guard.require(call, CHECK_FOR_OTHERS, query.resource_scope, "access")

    async def _at_revision(self, revision: int, context: Context) -> int:
        remaining = context.time_remaining()
        timeout = self.max_wait_s if remaining is None else min(remaining, self.max_wait_s)
        return await self.access.at_revision(revision, max(timeout - 0.05, 0))

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        caller = call_info(context).caller
        kind = caller_principal_type(caller.type)
        principal = pb.Principal(type=kind, identifier=caller.identifier, scope=caller.scope)
        return pb.WhoAmIResponse(principal=principal, email=caller.email)

    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        query = query_from(request)
        await self._may_ask(query, context)
        revision = await self._at_revision(request.at_least_revision, context)
        return pb.CheckResponse(allowed=self.access.check(query), revision=revision)

    async def BatchCheck(
        self, request: pb.BatchCheckRequest, context: Context
    ) -> pb.BatchCheckResponse:
        self.access.batch_size(len(request.items))
        revision = await self._at_revision(request.at_least_revision, context)
        call = call_info(context)
        results, denied_scopes = [], set()
        for item in request.items:
            try:
                query = query_from(item)
                if self._for_someone_else(query, call) and not self.guard.allowed(
                    call, CHECK_FOR_OTHERS, query.resource_scope
                ):
                    denied_scopes.add(query.resource_scope)
                    raise PermissionDenied(f"the caller lacks {CHECK_FOR_OTHERS}")
                results.append(pb.BatchCheckResult(allowed=self.access.check(query)))
            except (InvalidArgument, PermissionDenied) as exc:
                results.append(pb.BatchCheckResult(allowed=False, error=item_error(exc)))
        for scope in sorted(denied_scopes):  # one audit event per scope, not one per item
            await self.guard.record_denial(call, CHECK_FOR_OTHERS, scope, "access", "")
        return pb.BatchCheckResponse(results=results, revision=revision)

    async def Explain(self, request: pb.CheckRequest, context: Context) -> pb.ExplainResponse:
        query = query_from(request)
        await self._may_ask(query, context)
        revision = await self._at_revision(request.at_least_revision, context)
        subject = self.access.subject(query.principal, query.resource_scope)
        explanation = self.access.explain(query)
        grants = []
        for g in explanation.grants:
            scope, _, identifier = g.binding.rpartition("/")
            # The grant is the asker's to see; reading its binding needs no further permission.
            binding = (
                await self.management.get("role_binding", scope, identifier, SYSTEM_CALL)
            ).stored.entity
            grants.append(
                pb.Grant(
                    role_binding=g.binding,
                    role=g.role.removeprefix("role:"),
                    resource_group=binding.resource_group,
                    scope=g.scope,
                    include_child_scopes=g.mode == TREE,
                    via_group="" if g.subject == subject else g.subject.removeprefix("group:"),
                )
            )
        return pb.ExplainResponse(
            allowed=explanation.allowed, grants=grants, reason=explanation.reason, revision=revision
        )

    async def ListEffectivePermissions(
        self, request: pb.ListEffectivePermissionsRequest, context: Context
    ) -> pb.ListEffectivePermissionsResponse:
        query = AccessQuery(principal_from(request.principal), request.scope, "", "", "")
        await self._may_ask(query, context)
        revision = await self._at_revision(request.at_least_revision, context)
        permissions = self.access.effective_permissions(query.principal, request.scope)
        return pb.ListEffectivePermissionsResponse(permissions=permissions, revision=revision)
