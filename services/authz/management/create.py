"""Create an entity; a retried create (same caller, account and request id) answers with the
first call's response and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.authz.domain import scopes, user_states, validation
from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import Entity, Stored, User, from_body, to_body
from services.authz.domain.entity_lines import caller_subject
from services.authz.domain.errors import FailedPrecondition
from services.authz.granting import Granting
from services.authz.management.derivation import check_references, derive_lines
from services.authz.management.lookup import managed
from services.authz.management.operation_access import OperationAccess
from services.authz.management.transaction import AtRevision, Changes, Writer, change_of
from services.authz.policy_state import PolicyState
from services.authz.store.repository import IdempotencyKey, Tx

MAX_REQUEST_ID = 128


class _Replay(Exception):
    """A retried create: roll back and answer with the first call's response."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response


def idempotency_key(call: CallInfo, method: str, scope: str, request_id: str) -> IdempotencyKey:
    """A request id belongs to its caller and the account written: never shared across them."""
    caller = "system" if call.caller.type == "SYSTEM" else caller_subject(call.caller)
    return IdempotencyKey(caller, scopes.account(scope) if scope else "", method, request_id)


@dataclass(frozen=True)
class Create:
    writer: Writer
    access: OperationAccess
    granting: Granting
    state: PolicyState  # the registry and resource types that validation knows

    async def __call__(self, entity: Entity, call: CallInfo, request_id: str = "") -> AtRevision:
        entity = validation.entity(entity, self.state.permissions, self.state.resource_types)
        if isinstance(entity, User):
            entity = user_states.created(entity)
        if request_id:
            validation.text(request_id, "request_id", MAX_REQUEST_ID)
        await self.access.authorize(call, entity.kind, "write", entity.scope, entity.identifier)
        key = idempotency_key(call, f"create:{entity.kind}", entity.scope, request_id)

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[AtRevision, Change]:
            if request_id and (previous := await tx.remembered_response(key)):
                raise _Replay(previous)
            if managed(entity.kind, entity.scope, entity.identifier) is not None:
                raise FailedPrecondition(f"{entity.identifier!r} is managed and exists already")
            await check_references(tx, entity)
            await self.granting.require_held_for(tx, call, entity, None)
            await tx.insert(entity, revision)
            await derive_lines(tx, entity, changes)
            if request_id:
                response = {"kind": entity.kind, "body": to_body(entity), "revision": revision}
                await tx.remember_response(key, response)
            change = change_of("CREATE", entity, None, entity)
            return AtRevision(Stored(entity, revision), revision), change

        try:
            return await self.writer.write(op, call)
        except _Replay as replay:
            r = replay.response
            return AtRevision(Stored(from_body(r["kind"], r["body"]), r["revision"]), r["revision"])
