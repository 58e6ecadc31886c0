"""Access decisions: Check, BatchCheck, Explain, ListEffectivePermissions.

Answers come from this replica's in-memory PolicyIndex; `at_least_revision` waits until the
replica has caught up that far. A request is validated on the way in; what depends only on the
request (the principal's subject) is remembered, since the same principals are asked about again
and again."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from services.authz.domain import entity_lines, scopes, validation
from services.authz.domain.entities import PrincipalRef, PrincipalType
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.lines import CheckRequest
from services.authz.domain.policy_index import Grant
from services.authz.policy_state import PolicyState

MAX_BATCH = 1000
REMEMBERED_REQUESTS = 16_384  # validated requests kept by their wire bytes (then forgotten)


class Principal(NamedTuple):
    type: PrincipalType
    identifier: str
    scope: str  # groups and service accounts: where defined ("": the resource scope)


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    grants: list[Grant]
    reason: str


@lru_cache(maxsize=65_536)
def subject_of(principal: Principal, resource_scope: str) -> str:
    """The Casbin subject of a principal asked about at a scope, or InvalidArgument naming the
    field (exceptions are not remembered)."""
    scopes.check_scope(resource_scope, "resource_scope")
    ref = PrincipalRef(*principal)
    return entity_lines.principal_subject(validation.principal(ref, resource_scope, "principal"))


class Access:
    def __init__(self, state: PolicyState) -> None:
        self.state = state
        self._requests: dict[bytes, CheckRequest] = {}
        self._requests_catalog: tuple[object, object] = (None, None)

    def remembered_requests(self) -> dict[bytes, CheckRequest]:
        """Valid requests by the wire bytes of the query they came from, for BatchCheck: the
        same items come again and again, and validating one costs ten times a lookup. A
        request's validity depends on the query and the catalog only; the state replaces its
        resource_types and permissions sets when the catalog changes, so a different set
        object starts afresh. Bounded: emptied when full."""
        catalog = (self.state.resource_types, self.state.permissions)
        known = self._requests_catalog
        if (
            catalog[0] is not known[0]
            or catalog[1] is not known[1]
            or len(self._requests) >= REMEMBERED_REQUESTS
        ):
            self._requests = {}
            self._requests_catalog = catalog
        return self._requests

    def request(
        self,
        principal: Principal,
        resource_scope: str,
        resource_type: str,
        resource_identifier: str,
        permission: str,
    ) -> CheckRequest:
        """The Casbin request for a query, or InvalidArgument naming the field."""
        subject = subject_of(principal, resource_scope)
        if resource_type not in self.state.resource_types:
            raise InvalidArgument("resource_type", f"unknown resource type {resource_type!r}")
        if resource_identifier:
            scopes.check_identifier(resource_identifier, "resource_identifier")
        if permission not in self.state.permissions:
            raise InvalidArgument("permission", f"unknown permission {permission!r}")
        return CheckRequest(subject, resource_scope, resource_type, resource_identifier, permission)

    async def at_revision(self, revision: int, wait_s: float) -> int:
        if revision < 0:
            raise InvalidArgument("at_least_revision", "must not be negative")
        await self.state.wait_for(revision, wait_s)
        return self.state.revision

    def check(self, req: CheckRequest) -> bool:
        return self.state.index.check(req)

    def batch_size(self, n: int) -> None:
        if n == 0 or n > MAX_BATCH:
            raise InvalidArgument("items", f"give between 1 and {MAX_BATCH} items")

    def explain(self, req: CheckRequest) -> Explanation:
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

    def effective_permissions(self, subject: str, scope: str) -> list[str]:
        return sorted(self.state.index.permissions_of(subject, scope))
