"""Delete an entity: refused while bindings (or groups, or roles) still use it, unless
cascading; a deleted user or service account takes its API keys and tokens along."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from services.authz.domain.audit import CallInfo, Change
from services.authz.domain.entities import (
    Entity,
    GovernancePolicy,
    Permission,
    PolicySet,
    ResourceGroup,
    Role,
    RoleBinding,
    Stored,
    User,
    UserGroup,
)
from services.authz.domain.errors import FailedPrecondition
from services.authz.management.derivation import derive_lines, drop
from services.authz.management.lookup import check_key, fetch, match_etag, refuse_managed
from services.authz.management.operation_access import OperationAccess
from services.authz.management.transaction import Changes, Writer, change_of
from services.authz.store.repository import Tx


async def _release_dependents(
    tx: Tx, entity: Entity, cascade: bool, revision: int, changes: Changes
) -> list[str]:
    """Refuse to delete what bindings (or groups, or roles) still use, unless cascading;
    return what the cascade changed."""
    groups: list[Stored] = []
    if isinstance(entity, Role):
        bindings = await tx.bindings_using_role(entity.scope, entity.identifier)
    elif isinstance(entity, ResourceGroup):
        bindings = await tx.bindings_using_resource_group(entity.scope, entity.identifier)
    elif isinstance(entity, User):
        bindings = await tx.bindings_of_principal("USER", entity.account, entity.identifier)
        groups = await tx.groups_with_member(entity.account, entity.identifier)
    elif isinstance(entity, UserGroup):
        bindings = await tx.bindings_of_principal("USER_GROUP", entity.scope, entity.identifier)
    elif isinstance(entity, Permission):
        roles = await tx.roles_with_permission(entity.name)
        if roles:
            names = ", ".join(f"{r.entity.scope}/{r.entity.identifier}" for r in roles[:5])
            raise FailedPrecondition(f"roles still hold {entity.name!r}: {names}")
        return []
    elif isinstance(entity, RoleBinding | GovernancePolicy | PolicySet):
        return []  # a policy in use by policy sets is refused by governance (gate.py)
    else:
        bindings = await tx.bindings_of_principal(
            "SERVICE_ACCOUNT", entity.scope, entity.identifier
        )
    used_by = [f"role binding {b.entity.scope}/{b.entity.identifier}" for b in bindings]
    used_by += [f"user group {g.entity.scope}/{g.entity.identifier}" for g in groups]
    if used_by and not cascade:
        raise FailedPrecondition(
            f"still used by {len(used_by)}: {', '.join(used_by[:5])}; delete with cascade"
        )
    for b in bindings:
        await drop(tx, b.entity, changes)
    for g in groups:
        group: UserGroup = g.entity
        pruned = dataclasses.replace(
            group, members=tuple(m for m in group.members if m != entity.identifier)
        )
        await tx.update(pruned, revision)
        await derive_lines(tx, pruned, changes)
    return used_by


class Delete:
    def __init__(
        self, writer: Writer, access: OperationAccess, forget_tokens: Callable[[list[str]], None]
    ) -> None:
        self.writer = writer
        self.access = access
        self.forget_tokens = forget_tokens  # drops revoked tokens from this replica's cache

    async def __call__(
        self,
        kind: str,
        scope: str,
        identifier: str,
        call: CallInfo,
        etag: str = "",
        cascade: bool = False,
    ) -> int:
        check_key(kind, scope, identifier)
        refuse_managed(kind, scope, identifier)
        await self.access.authorize(call, kind, "delete", scope, identifier)
        revoked: list[str] = []

        async def op(tx: Tx, revision: int, changes: Changes) -> tuple[int, Change]:
            stored = await fetch(tx, kind, scope, identifier)
            match_etag(stored, etag)
            released = await _release_dependents(tx, stored.entity, cascade, revision, changes)
            await drop(tx, stored.entity, changes)
            if kind in ("user", "service_account"):
                # Its keys go with it: a principal created later under the same identifier
                # must not inherit working tokens.
                revoked.extend(await tx.revoke_tokens_of_owner(kind, scope, identifier))
                await tx.delete_api_keys_of(kind, scope, identifier)
            labels = {"cascaded": ",".join(released)} if released else {}
            if revoked:
                labels["revoked_tokens"] = str(len(revoked))
            return revision, change_of("DELETE", stored.entity, stored.entity, None, **labels)

        revision = await self.writer.write(op, call)
        self.forget_tokens(revoked)
        return revision
