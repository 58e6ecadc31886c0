"""Entities -> Casbin policy lines (format: lines.py). Pure functions."""

from __future__ import annotations

from services.authz.domain import catalog, lines
from services.authz.domain.audit import Caller
from services.authz.domain.entities import PrincipalRef, ResourceGroup, Role, RoleBinding, UserGroup
from services.authz.domain.lines import PolicyLine
from services.authz.domain.scopes import account


def source_of(kind: str, scope: str, identifier: str) -> str:
    """The tag under which an entity's lines are stored, so they can be replaced as a whole."""
    return f"{kind}:{scope}/{identifier}"


def principal_subject(principal: PrincipalRef) -> str:
    if principal.type == "USER":
        return lines.user_subject(account(principal.scope), principal.identifier)
    if principal.type == "USER_GROUP":
        return lines.group_subject(principal.scope, principal.identifier)
    return lines.service_account_subject(principal.scope, principal.identifier)


def caller_subject(caller: Caller) -> str:
    """The subject of an authenticated caller: a user or a service account."""
    if caller.type == "USER":
        return lines.user_subject(account(caller.scope), caller.identifier)
    return lines.service_account_subject(caller.scope, caller.identifier)


def role_lines(role: Role) -> list[PolicyLine]:
    key = lines.role_key(role.scope, role.identifier)
    return [lines.role_permission(key, p) for p in role.permissions]


def managed_role_lines() -> list[PolicyLine]:
    """The g2 lines of every managed role; the same in every scope."""
    return [
        lines.role_permission(lines.role_key("", identifier), p)
        for identifier, perms in catalog.all_managed_role_permissions().items()
        for p in perms
    ]


def group_lines(group: UserGroup, inactive: frozenset[str] = frozenset()) -> list[PolicyLine]:
    """Membership lines of the group's members, but for inactive users (invited, disabled)."""
    group_key = lines.group_subject(group.scope, group.identifier)
    return [
        lines.membership(lines.user_subject(account(group.scope), m), group_key)
        for m in group.members
        if m not in inactive
    ]


def resource_group_selectors(group: ResourceGroup) -> list[tuple[str, lines.ScopeMode, str, str]]:
    """(scope, mode, resource_type, resource_id) for every scope and resource the group selects."""
    mode: lines.ScopeMode = lines.TREE if group.include_child_scopes else lines.EXACT
    selected_scopes = group.included_scopes or (group.scope,)
    resources: list[tuple[str, str]]
    if group.include_all_resources:
        resources = [(lines.ANY, lines.ANY)]
    else:
        resources = [
            (f.resource_type, rid)
            for f in group.resource_filters
            for rid in (f.identifiers or (lines.ANY,))
        ]
    return [(s, mode, rtype, rid) for s in selected_scopes for rtype, rid in resources]


def binding_lines(binding: RoleBinding, group: ResourceGroup) -> list[PolicyLine]:
    if binding.disabled:
        return []
    subject = principal_subject(binding.principal)
    role = lines.role_key(binding.role_scope, binding.role)
    key = lines.binding_key(binding.scope, binding.identifier)
    return [
        lines.grant(subject, role, scope, mode, rtype, rid, key)
        for scope, mode, rtype, rid in resource_group_selectors(group)
    ]
