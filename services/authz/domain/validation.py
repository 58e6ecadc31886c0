"""Argument checks for every entity: each returns the normalized entity or raises InvalidArgument
naming the field as the API spells it (e.g. "role.permissions")."""

from __future__ import annotations

import dataclasses

from services.authz.domain import catalog, governance, scopes
from services.authz.domain.entities import (
    Entity,
    GovernancePolicy,
    Permission,
    PolicySet,
    PrincipalRef,
    ResourceFilter,
    ResourceGroup,
    Role,
    RoleBinding,
    ServiceAccount,
    User,
    UserGroup,
)
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.scopes import check_identifier, check_scope

# Bounds of every text and list field (README, "Limits").
MAX_NAME = 256
MAX_DESCRIPTION = 1024
MAX_EMAIL = 320
MAX_MEMBERS = 1000
MAX_PERMISSIONS = 500
MAX_FILTERS = 50
MAX_FILTER_IDENTIFIERS = 1000
MAX_INCLUDED_SCOPES = 100


def text(value: str, field: str, limit: int = MAX_NAME) -> str:
    """Free text: bounded, printable (no NUL or other control characters)."""
    if len(value) > limit:
        raise InvalidArgument(field, f"longer than {limit} characters")
    if not value.isprintable():
        raise InvalidArgument(field, "control characters (NUL, newline, ...) are not allowed")
    return value


def bounded(items: tuple[str, ...] | tuple[object, ...], field: str, limit: int) -> None:
    if len(items) > limit:
        raise InvalidArgument(field, f"at most {limit} items")


def _custom_identifier(value: str, field: str) -> str:
    check_identifier(value, field)
    if value.startswith("_"):
        raise InvalidArgument(
            field, "identifiers starting with '_' are reserved for managed entities"
        )
    return value


def _email(value: str, field: str) -> str:
    text(value, field, MAX_EMAIL)
    if value and ("@" not in value or any(c.isspace() for c in value)):
        raise InvalidArgument(field, f"{value!r} is not an email address")
    return value


def user(u: User) -> User:
    check_scope(u.account, "user.account")
    if scopes.level(u.account) != "account":
        raise InvalidArgument("user.account", "users are account-level: give the account only")
    _custom_identifier(u.identifier, "user.identifier")
    _email(u.email, "user.email")
    text(u.display_name, "user.display_name")
    return u


def user_group(g: UserGroup) -> UserGroup:
    check_scope(g.scope, "user_group.scope")
    _custom_identifier(g.identifier, "user_group.identifier")
    text(g.name, "user_group.name")
    bounded(g.members, "user_group.members", MAX_MEMBERS)
    for m in g.members:
        check_identifier(m, "user_group.members")
    return dataclasses.replace(g, members=tuple(sorted(set(g.members))))


def service_account(s: ServiceAccount) -> ServiceAccount:
    check_scope(s.scope, "service_account.scope")
    _custom_identifier(s.identifier, "service_account.identifier")
    text(s.name, "service_account.name")
    _email(s.email, "service_account.email")
    return s


def role(r: Role, known_permissions: set[str]) -> Role:
    check_scope(r.scope, "role.scope")
    _custom_identifier(r.identifier, "role.identifier")
    text(r.name, "role.name")
    bounded(r.permissions, "role.permissions", MAX_PERMISSIONS)
    unknown = sorted(set(r.permissions) - known_permissions)
    if unknown:
        raise InvalidArgument("role.permissions", f"unknown permissions: {', '.join(unknown)}")
    return dataclasses.replace(r, permissions=tuple(sorted(set(r.permissions))), managed=False)


def resource_group(g: ResourceGroup, known_resource_types: set[str]) -> ResourceGroup:
    check_scope(g.scope, "resource_group.scope")
    _custom_identifier(g.identifier, "resource_group.identifier")
    text(g.name, "resource_group.name")
    bounded(g.included_scopes, "resource_group.included_scopes", MAX_INCLUDED_SCOPES)
    bounded(g.resource_filters, "resource_group.resource_filters", MAX_FILTERS)
    for s in g.included_scopes:
        check_scope(s, "resource_group.included_scopes")
        if not scopes.is_within(s, g.scope):
            raise InvalidArgument(
                "resource_group.included_scopes", f"{s!r} is not {g.scope!r} or below it"
            )
    if g.include_all_resources and g.resource_filters:
        raise InvalidArgument(
            "resource_group.resource_filters", "give filters or include_all_resources, not both"
        )
    if not g.include_all_resources and not g.resource_filters:
        raise InvalidArgument(
            "resource_group.resource_filters", "select resources: filters or include_all_resources"
        )
    filters = []
    for f in g.resource_filters:
        if f.resource_type not in known_resource_types:
            raise InvalidArgument(
                "resource_group.resource_filters.resource_type",
                f"unknown resource type {f.resource_type!r}",
            )
        bounded(
            f.identifiers, "resource_group.resource_filters.identifiers", MAX_FILTER_IDENTIFIERS
        )
        for i in f.identifiers:
            check_identifier(i, "resource_group.resource_filters.identifiers")
        filters.append(ResourceFilter(f.resource_type, tuple(sorted(set(f.identifiers)))))
    return dataclasses.replace(
        g,
        included_scopes=tuple(sorted(set(g.included_scopes))),
        resource_filters=tuple(filters),
        managed=False,
    )


def principal(p: PrincipalRef, request_scope: str, field: str) -> PrincipalRef:
    """Resolve where the principal lives: users in the account of the request scope; groups and
    service accounts in the given scope (default: the request scope), which must be the request
    scope or one of its ancestors."""
    check_identifier(p.identifier, f"{field}.identifier")
    if p.type == "USER":
        return dataclasses.replace(p, scope=scopes.account(request_scope))
    if p.type not in ("USER_GROUP", "SERVICE_ACCOUNT"):
        raise InvalidArgument(f"{field}.type", "give USER, USER_GROUP or SERVICE_ACCOUNT")
    where = p.scope or request_scope
    check_scope(where, f"{field}.scope")
    if not scopes.is_within(request_scope, where):
        raise InvalidArgument(f"{field}.scope", f"{where!r} is not {request_scope!r} or above it")
    return dataclasses.replace(p, scope=where)


def role_binding(b: RoleBinding) -> RoleBinding:
    check_scope(b.scope, "role_binding.scope")
    _custom_identifier(b.identifier, "role_binding.identifier")
    resolved = principal(b.principal, b.scope, "role_binding.principal")
    role_scope = b.role_scope or b.scope
    check_scope(role_scope, "role_binding.role_scope")
    if not scopes.is_within(b.scope, role_scope):
        raise InvalidArgument(
            "role_binding.role_scope",
            f"a role of {role_scope!r} cannot be bound in {b.scope!r}: use its scope or one below",
        )
    check_identifier(b.role, "role_binding.role")
    check_identifier(b.resource_group, "role_binding.resource_group")
    if b.role.startswith("_"):
        role_scope = b.scope  # managed roles exist in every scope of their level
    return dataclasses.replace(b, principal=resolved, role_scope=role_scope)


def entity(e: Entity, known_permissions: set[str], known_resource_types: set[str]) -> Entity:
    """The entity normalized, or InvalidArgument naming the field."""
    match e:
        case User():
            return user(e)
        case UserGroup():
            return user_group(e)
        case ServiceAccount():
            return service_account(e)
        case Role():
            return role(e, known_permissions)
        case ResourceGroup():
            return resource_group(e, known_resource_types)
        case RoleBinding():
            return role_binding(e)
        case Permission():
            return permission(e)
        case GovernancePolicy():
            return governance_policy(e)
        case PolicySet():
            return policy_set(e)
    raise TypeError(f"not a managed entity: {e!r}")


def permission(p: Permission) -> Permission:
    if not catalog.PERMISSION_NAME.fullmatch(p.name):
        raise InvalidArgument("permission.name", "must be core_<resourcetype>_<action>, lower case")
    text(p.description, "permission.description", MAX_DESCRIPTION)
    return dataclasses.replace(p, managed=False)


def governance_policy(p: GovernancePolicy) -> GovernancePolicy:
    """The Rego source is checked here for size and characters; OPA compiles it on save."""
    check_scope(p.scope, "policy.scope")
    _custom_identifier(p.identifier, "policy.identifier")
    text(p.name, "policy.name")
    if not p.rego.strip():
        raise InvalidArgument("policy.rego", "give the Rego source")
    if len(p.rego) > governance.MAX_REGO:
        raise InvalidArgument("policy.rego", f"longer than {governance.MAX_REGO} characters")
    if any(not c.isprintable() and c not in "\n\t\r" for c in p.rego):
        raise InvalidArgument("policy.rego", "control characters other than newlines and tabs")
    return p


def _one_of(values: tuple[str, ...], allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    if not values:
        raise InvalidArgument(field, f"give at least one of {', '.join(allowed)}")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidArgument(field, f"unknown: {', '.join(unknown)}; give {', '.join(allowed)}")
    return tuple(sorted(set(values)))


def policy_set(s: PolicySet) -> PolicySet:
    check_scope(s.scope, "policy_set.scope")
    _custom_identifier(s.identifier, "policy_set.identifier")
    text(s.name, "policy_set.name")
    entity_types = _one_of(s.entity_types, governance.GOVERNED_KINDS, "policy_set.entity_types")
    events = _one_of(s.events, governance.EVENTS, "policy_set.events")
    if s.severity not in governance.SEVERITIES:
        raise InvalidArgument("policy_set.severity", "give error or warning")
    mode = s.failure_mode or governance.default_failure_mode(s.severity)
    if mode not in governance.FAILURE_MODES:
        raise InvalidArgument("policy_set.failure_mode", "give closed or open")
    if not s.policies:
        raise InvalidArgument("policy_set.policies", "give at least one policy")
    bounded(s.policies, "policy_set.policies", governance.MAX_POLICIES_PER_SET)
    for ref in s.policies:
        check_scope(ref.scope, "policy_set.policies.scope")
        check_identifier(ref.identifier, "policy_set.policies.identifier")
        if not scopes.is_within(s.scope, ref.scope):
            raise InvalidArgument(
                "policy_set.policies.scope", f"{ref.scope!r} is not {s.scope!r} or above it"
            )
    return dataclasses.replace(
        s,
        entity_types=entity_types,
        events=events,
        failure_mode=mode,
        policies=tuple(sorted(set(s.policies), key=lambda r: (r.scope, r.identifier))),
    )


PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 1000


def page_size(value: int) -> int:
    if value < 0 or value > PAGE_SIZE_MAX:
        raise InvalidArgument("page_size", f"must be between 0 and {PAGE_SIZE_MAX}")
    return value or PAGE_SIZE_DEFAULT
