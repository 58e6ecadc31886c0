"""What a write grants, and the rule that the caller must hold it (domain/delegation.py).

Runs inside the write's transaction, after the revision lock is taken and this replica has
caught up, so that it decides on the newest policy; a refusal rolls the write back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.authz.domain import delegation, entity_lines
from services.authz.domain.audit import CallInfo
from services.authz.domain.delegation import Grant
from services.authz.domain.entities import (
    Entity,
    ResourceGroup,
    Role,
    RoleBinding,
    Stored,
    User,
    UserGroup,
)
from services.authz.domain.entity_lines import caller_subject
from services.authz.domain.errors import Denial, PermissionDenied
from services.authz.policy_state import PolicyState
from services.authz.store.repository import Tx

Lookup = Callable[[Tx, str, str, str], Awaitable[Stored]]  # (tx, kind, scope, identifier)


class Granting:
    def __init__(self, state: PolicyState, lookup: Lookup) -> None:
        self.state = state
        self.lookup = lookup

    async def _binding_grants(
        self, tx: Tx, binding: RoleBinding, permissions: set[str] | None = None
    ) -> set[Grant]:
        """What an enabled binding grants: its role's permissions (or `permissions`) over its
        resource group's selectors."""
        if binding.disabled:
            return set()
        if permissions is None:
            role = (await self.lookup(tx, "role", binding.role_scope, binding.role)).entity
            permissions = set(role.permissions)
        group = (
            await self.lookup(tx, "resource_group", binding.scope, binding.resource_group)
        ).entity
        return delegation.grants(permissions, entity_lines.resource_group_selectors(group))

    async def granted_by(self, tx: Tx, new: Entity, old: Entity | None) -> set[Grant]:
        """What writing `new` (over `old`, if any) grants that was not granted before."""
        if isinstance(new, RoleBinding):
            before = await self._binding_grants(tx, old) if isinstance(old, RoleBinding) else set()
            return await self._binding_grants(tx, new) - before
        if isinstance(new, Role):
            # Its bindings gain the added permissions over their own groups' selectors.
            added = set(new.permissions) - set(old.permissions if isinstance(old, Role) else ())
            if not added:
                return set()
            bindings = await tx.bindings_using_role(new.scope, new.identifier)
            return await self._each_enabled(tx, bindings, added)
        if isinstance(new, ResourceGroup):
            # Its bindings' roles gain the selectors the group did not select before.
            selected = (
                set(entity_lines.resource_group_selectors(old))
                if isinstance(old, ResourceGroup)
                else set()
            )
            added_selectors = set(entity_lines.resource_group_selectors(new)) - selected
            if not added_selectors:
                return set()
            found: set[Grant] = set()
            for b in await tx.bindings_using_resource_group(new.scope, new.identifier):
                if not b.entity.disabled:
                    role = await self.lookup(tx, "role", b.entity.role_scope, b.entity.role)
                    found |= delegation.grants(role.entity.permissions, added_selectors)
            return found
        if isinstance(new, User):
            # Enabling a disabled user makes its bindings and memberships grant again: the
            # caller must hold that, as for enabling a disabled binding.
            if new.state != "ACTIVE" or not isinstance(old, User) or old.state == "ACTIVE":
                return set()
            bindings = await tx.bindings_of_principal("USER", new.account, new.identifier)
            for g in await tx.groups_with_member(new.account, new.identifier):
                bindings += await tx.bindings_of_principal(
                    "USER_GROUP", g.entity.scope, g.entity.identifier
                )
            return await self._each_enabled(tx, bindings)
        if isinstance(new, UserGroup):
            before_members = set(old.members) if isinstance(old, UserGroup) else set()
            if not set(new.members) - before_members:
                return set()
            bindings = await tx.bindings_of_principal("USER_GROUP", new.scope, new.identifier)
            return await self._each_enabled(tx, bindings)
        return set()

    async def _each_enabled(
        self, tx: Tx, bindings: list[Stored], permissions: set[str] | None = None
    ) -> set[Grant]:
        found: set[Grant] = set()
        for b in bindings:
            found |= await self._binding_grants(tx, b.entity, permissions)
        return found

    async def require_held_for(
        self, tx: Tx, call: CallInfo, new: Entity, old: Entity | None
    ) -> None:
        """PermissionDenied unless the caller holds all that writing `new` grants."""
        self.require_held(call, await self.granted_by(tx, new, old), new)

    def require_held(self, call: CallInfo, wanted: set[Grant], entity: Entity) -> None:
        if call.caller.type == "SYSTEM" or not wanted:
            return
        subject = caller_subject(call.caller)
        missing = delegation.missing(
            wanted, lambda p, selector: self.state.index.holds(subject, p, selector)
        )
        if not missing:
            return
        first = delegation.describe(missing[0])
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise PermissionDenied(
            f"this change would grant what the caller does not hold: {first}{more}",
            Denial(missing[0][0], entity.scope, entity.kind, entity.identifier, f"grant {first}"),
        )
