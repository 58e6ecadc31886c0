"""Access decisions: Check, BatchCheck, Explain, ListEffectivePermissions.

Answers come from this replica's in-memory PolicyIndex; `at_least_revision` waits until the
replica has caught up that far."""

from __future__ import annotations

from dataclasses import dataclass

from services.authz.domain import compile, scopes, validation
from services.authz.domain.entities import PrincipalRef
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.lines import CheckRequest
from services.authz.domain.policy_index import Grant
from services.authz.policy_state import PolicyState

MAX_BATCH = 1000


@dataclass(frozen=True)
class AccessQuery:
    principal: PrincipalRef
    resource_scope: str
    resource_type: str
    resource_identifier: str
    permission: str


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    grants: list[Grant]
    reason: str


class Access:
    def __init__(self, state: PolicyState) -> None:
        self.state = state

    def subject(self, principal: PrincipalRef, scope: str) -> str:
        scopes.check_scope(scope, "resource_scope")
        return compile.principal_subject(validation.principal(principal, scope, "principal"))

    def request(self, q: AccessQuery) -> CheckRequest:
        """The Casbin request for a query, or InvalidArgument naming the field."""
        subject = self.subject(q.principal, q.resource_scope)
        if q.resource_type not in self.state.resource_types:
            raise InvalidArgument("resource_type", f"unknown resource type {q.resource_type!r}")
        if q.resource_identifier:
            scopes.check_identifier(q.resource_identifier, "resource_identifier")
        if q.permission not in self.state.permissions:
            raise InvalidArgument("permission", f"unknown permission {q.permission!r}")
        return CheckRequest(
            subject, q.resource_scope, q.resource_type, q.resource_identifier, q.permission
        )

    async def at_revision(self, revision: int, wait_s: float) -> int:
        if revision < 0:
            raise InvalidArgument("at_least_revision", "must not be negative")
        await self.state.wait_for(revision, wait_s)
        return self.state.revision

    def check(self, q: AccessQuery) -> bool:
        return self.state.index.check(self.request(q))

    def batch_size(self, n: int) -> None:
        if n == 0 or n > MAX_BATCH:
            raise InvalidArgument("items", f"give between 1 and {MAX_BATCH} items")

    def explain(self, q: AccessQuery) -> Explanation:
        req = self.request(q)
        grants = self.state.index.explain(req)
        if grants:
            return Explanation(True, grants, "")
        groups = self.state.index.groups_of(req.subject)
        reachable = len(self.state.index.permissions_of(req.subject, req.scope))
        what = f"{req.permission} on {req.resource_type}/{req.resource_id or '*'} in {req.scope}"
        via = f" or its {len(groups)} group(s)" if groups else ""
        if reachable:
            reason = f"the bindings of {req.subject}{via} in {req.scope} do not grant {what}"
        else:
            reason = f"no enabled role binding of {req.subject}{via} covers {req.scope}"
        return Explanation(False, [], reason)

    def effective_permissions(self, principal: PrincipalRef, scope: str) -> list[str]:
        subject = self.subject(principal, scope)
        return sorted(self.state.index.permissions_of(subject, scope))
