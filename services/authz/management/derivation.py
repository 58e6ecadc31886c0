"""What an entity's write implies in the store: the entities it must name (references), the
Casbin lines derived from it (domain/entity_lines.py), and what its removal takes along."""

from __future__ import annotations

from services.authz.domain import entity_lines, scopes
from services.authz.domain.entities import (
    KIND_OF_PRINCIPAL,
    Entity,
    Permission,
    PolicySet,
    ResourceGroup,
    Role,
    RoleBinding,
    User,
    UserGroup,
)
from services.authz.domain.lines import PolicyLine
from services.authz.management.lookup import fetch
from services.authz.management.transaction import Changes
from services.authz.policy_state import PERMISSION
from services.authz.store.repository import Tx


async def check_references(tx: Tx, entity: Entity) -> None:
    """NotFound unless everything the entity names exists."""
    if isinstance(entity, UserGroup):
        for member in entity.members:
            await fetch(tx, "user", scopes.account(entity.scope), member)
    elif isinstance(entity, PolicySet):
        for ref in entity.policies:
            await fetch(tx, "governance_policy", ref.scope, ref.identifier)
    elif isinstance(entity, RoleBinding):
        await fetch(tx, "role", entity.role_scope, entity.role)
        await fetch(tx, "resource_group", entity.scope, entity.resource_group)
        p = entity.principal
        await fetch(tx, KIND_OF_PRINCIPAL[p.type], p.scope, p.identifier)


async def derive_lines(tx: Tx, entity: Entity, changes: Changes) -> None:
    """Make the stored lines those the entity implies (a resource group: its bindings').
    Invited (not yet accepted) and disabled users get no lines: their bindings and memberships
    wait."""
    source = entity_lines.source_of(entity.kind, entity.scope, entity.identifier)
    if isinstance(entity, Role):
        changes.merge(await tx.replace_lines(source, entity_lines.role_lines(entity)))
    elif isinstance(entity, UserGroup):
        inactive = await tx.inactive_users(scopes.account(entity.scope), entity.members)
        changes.merge(await tx.replace_lines(source, entity_lines.group_lines(entity, inactive)))
    elif isinstance(entity, RoleBinding):
        p = entity.principal
        if p.type == "USER" and await tx.inactive_users(p.scope, (p.identifier,)):
            changes.merge(await tx.replace_lines(source, []))
            return
        group = (await fetch(tx, "resource_group", entity.scope, entity.resource_group)).entity
        changes.merge(await tx.replace_lines(source, entity_lines.binding_lines(entity, group)))
    elif isinstance(entity, ResourceGroup):
        for b in await tx.bindings_using_resource_group(entity.scope, entity.identifier):
            await derive_lines(tx, b.entity, changes)
    elif isinstance(entity, Permission):
        changes.added.append(PolicyLine(PERMISSION, (entity.name,)))


async def derive_grants_of(tx: Tx, user: User, changes: Changes) -> None:
    """Derive again the lines of a user's bindings and memberships, after its state changed:
    they derive lines while it is ACTIVE only."""
    for binding in await tx.bindings_of_principal("USER", user.account, user.identifier):
        await derive_lines(tx, binding.entity, changes)
    for group in await tx.groups_with_member(user.account, user.identifier):
        await derive_lines(tx, group.entity, changes)


async def drop(tx: Tx, entity: Entity, changes: Changes) -> None:
    """Delete the entity and its lines."""
    await tx.delete(entity.kind, entity.scope, entity.identifier)
    if isinstance(entity, Permission):
        changes.removed.append(PolicyLine(PERMISSION, (entity.name,)))
    else:
        source = entity_lines.source_of(entity.kind, entity.scope, entity.identifier)
        changes.merge(await tx.replace_lines(source, []))
