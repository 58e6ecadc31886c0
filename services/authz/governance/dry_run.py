"""The Evaluate RPC: what the policy sets say of a would-be change, with nothing written or
recorded. Asked with core_governancepolicy_view at the change's scope, before any lookup."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.authz.domain import governance, scopes, validation
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import RoleBinding, from_body, to_body
from services.authz.domain.errors import InvalidArgument
from services.authz.governance.gate import Gate
from services.authz.management.operation_access import OperationAccess
from services.authz.store.connections import Connections
from services.authz.store.repository import Tx

MAX_STATE_JSON = 256 * 1024


def _state(raw: str, kind: str, scope: str, field: str) -> dict[str, Any] | None:
    """An entity's JSON (as audit events show it), normalized; its scope must be the request's."""
    if not raw:
        return None
    if len(raw) > MAX_STATE_JSON:
        raise InvalidArgument(field, f"longer than {MAX_STATE_JSON} characters")
    try:
        entity = from_body(kind, json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InvalidArgument(field, f"not the JSON of a {kind}") from None
    if isinstance(entity, RoleBinding):  # its role must be of this scope or above (tenancy)
        entity = validation.role_binding(entity)
    body = to_body(entity)
    if body.get("scope", body.get("account")) != scope:
        raise InvalidArgument(f"{field}.scope", f"must be the request's scope {scope!r}")
    return body


@dataclass(frozen=True)
class DryRun:
    db: Connections
    access: OperationAccess
    gate: Gate

    async def __call__(
        self, kind: str, event: str, scope: str, before: str, after: str, call: CallInfo
    ) -> governance.Review:
        scopes.check_scope(scope, "scope")
        if kind not in governance.GOVERNED_KINDS:
            kinds = ", ".join(governance.GOVERNED_KINDS)
            raise InvalidArgument("entity_type", f"give one of {kinds}")
        await self.access.authorize(call, "policy_set", "read", scope)
        old = _state(before, kind, scope, "before_json")
        new = _state(after, kind, scope, "after_json")
        if old is None and new is None:
            raise InvalidArgument("after_json", "give the entity before, after, or both")
        if event == "on_delete":
            action = "DELETE"
        else:
            action = "UPDATE" if old is not None and new is not None else "CREATE"
        body = new or old or {}
        identifier = str(body.get("identifier", body.get("name", "")))
        change = Change(action, kind, scope, identifier, old, new)
        async with self.db.acquire() as conn:
            review = await self.gate.evaluate(Tx(conn), change, call)
        return review or governance.Review()
