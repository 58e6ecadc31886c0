"""Thin handlers of the AccessService."""

from __future__ import annotations

from typing import Any

import grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from services.authz.access import Access, AccessQuery
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.lines import TREE
from services.authz.grpc_api.converters import principal_from
from services.authz.management import Management

Context = grpc.aio.ServicerContext[Any, Any]


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
        self.max_wait_s = max_wait_s

    async def _at_revision(self, revision: int, context: Context) -> int:
        remaining = context.time_remaining()
        timeout = self.max_wait_s if remaining is None else min(remaining, self.max_wait_s)
        return await self.access.at_revision(revision, max(timeout - 0.05, 0))

    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        revision = await self._at_revision(request.at_least_revision, context)
        return pb.CheckResponse(allowed=self.access.check(query_from(request)), revision=revision)

    async def BatchCheck(
        self, request: pb.BatchCheckRequest, context: Context
    ) -> pb.BatchCheckResponse:
        self.access.batch_size(len(request.items))
        revision = await self._at_revision(request.at_least_revision, context)
        results = []
        for item in request.items:
            try:
                results.append(pb.BatchCheckResult(allowed=self.access.check(query_from(item))))
            except InvalidArgument as exc:
                error = pb.ItemError(
                    code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                    message=exc.message,
                    field=exc.field,
                )
                results.append(pb.BatchCheckResult(allowed=False, error=error))
        return pb.BatchCheckResponse(results=results, revision=revision)

    async def Explain(self, request: pb.CheckRequest, context: Context) -> pb.ExplainResponse:
        revision = await self._at_revision(request.at_least_revision, context)
        query = query_from(request)
        subject = self.access.subject(query.principal, query.resource_scope)
        explanation = self.access.explain(query)
        grants = []
        for g in explanation.grants:
            scope, _, identifier = g.binding.rpartition("/")
            binding = (await self.management.get("role_binding", scope, identifier)).stored.entity
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
        revision = await self._at_revision(request.at_least_revision, context)
        permissions = self.access.effective_permissions(
            principal_from(request.principal), request.scope
        )
        return pb.ListEffectivePermissionsResponse(permissions=permissions, revision=revision)
