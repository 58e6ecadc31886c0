"""What exists without being created: the seeded permissions, managed roles and resource groups."""

from __future__ import annotations

import re

from services.authz.domain import scopes
from services.authz.domain.entities import Permission, ResourceGroup, Role

PERMISSION_NAME = re.compile(r"core_([a-z][a-z0-9]*)_([a-z][a-z0-9]*)")  # fullmatch only

_ACTIONS: dict[str, tuple[str, ...]] = {
    "account": ("view", "edit"),
    "organization": ("view", "create", "edit", "delete"),
    "project": ("view", "create", "edit", "delete"),
    "user": ("view", "manage", "invite"),
    "usergroup": ("view", "manage"),
    "serviceaccount": ("view", "edit", "delete", "manageapikey"),
    "role": ("view", "edit", "delete"),
    "resourcegroup": ("view", "edit", "delete"),
    "rolebinding": ("view", "manage"),
    "permission": ("view", "manage"),
    "pipeline": ("view", "create", "edit", "delete", "execute"),
    "secret": ("view", "create", "edit", "delete", "access"),
    "connector": ("view", "create", "edit", "delete", "access"),
    "environment": ("view", "create", "edit", "delete", "access"),
    "service": ("view", "create", "edit", "delete", "access"),
    "audit": ("view",),
    "access": ("check",),
    "governancepolicy": ("view", "edit", "delete"),  # policies and policy sets (governance)
}

SEEDED_PERMISSIONS: tuple[Permission, ...] = tuple(
    Permission(f"core_{rtype}_{action}", f"{action} {rtype}", managed=True)
    for rtype, actions in _ACTIONS.items()
    for action in actions
)


def resource_type_of(permission: str) -> str:
    """core_pipeline_execute -> PIPELINE."""
    match = PERMISSION_NAME.fullmatch(permission)
    if not match:
        raise ValueError(permission)
    return match.group(1).upper()


def _perms(
    *, only: set[str] | None = None, exclude: frozenset[str] = frozenset(), views: bool = False
) -> tuple[str, ...]:
    names = []
    for p in SEEDED_PERMISSIONS:
        rtype = p.name.split("_")[1]
        if (only is not None and rtype not in only) or rtype in exclude:
            continue
        if views and not p.name.endswith("_view"):
            continue
        names.append(p.name)
    return tuple(sorted(names))


_PROJECT_RESOURCES = {
    "pipeline",
    "secret",
    "connector",
    "environment",
    "service",
    "project",
    "usergroup",
    "serviceaccount",
    "role",
    "resourcegroup",
    "rolebinding",
    "audit",
    "governancepolicy",
}

_MANAGED_ROLES: dict[str, tuple[scopes.Level, tuple[str, ...]]] = {
    # No account role holds the global permission registry: a platform operator does.
    "_account_admin": (
        "account",
        tuple(p for p in _perms() if p != "core_permission_manage"),
    ),
    "_account_viewer": ("account", _perms(views=True)),
    "_organization_admin": ("organization", _perms(exclude=frozenset({"account", "permission"}))),
    "_organization_viewer": (
        "organization",
        _perms(exclude=frozenset({"account", "permission"}), views=True),
    ),
    "_project_admin": ("project", _perms(only=_PROJECT_RESOURCES)),
    "_project_viewer": ("project", _perms(only=_PROJECT_RESOURCES, views=True)),
    "_pipeline_executor": ("project", ("core_pipeline_execute", "core_pipeline_view")),
}

# identifier -> (the scope level it exists at, or None for every level; include child scopes)
_MANAGED_RESOURCE_GROUPS: dict[str, tuple[scopes.Level | None, bool]] = {
    "_all_resources_including_child_scopes": (None, True),
    "_all_account_level_resources": ("account", False),
    "_all_organization_level_resources": ("organization", False),
    "_all_project_level_resources": ("project", False),
}


def managed_role(identifier: str, scope: str) -> Role | None:
    """The managed role of that identifier if it exists in the scope."""
    found = _MANAGED_ROLES.get(identifier)
    if found is None or found[0] != scopes.level(scope):
        return None
    return Role(scope, identifier, identifier, found[1], managed=True)


def managed_roles(scope: str) -> list[Role]:
    return [r for i in _MANAGED_ROLES if (r := managed_role(i, scope)) is not None]


def all_managed_role_permissions() -> dict[str, tuple[str, ...]]:
    return {identifier: perms for identifier, (_, perms) in _MANAGED_ROLES.items()}


def managed_resource_group(identifier: str, scope: str) -> ResourceGroup | None:
    found = _MANAGED_RESOURCE_GROUPS.get(identifier)
    if found is None or (found[0] is not None and found[0] != scopes.level(scope)):
        return None
    return ResourceGroup(
        scope,
        identifier,
        identifier,
        include_child_scopes=found[1],
        include_all_resources=True,
        managed=True,
    )


def managed_resource_groups(scope: str) -> list[ResourceGroup]:
    return [
        g for i in _MANAGED_RESOURCE_GROUPS if (g := managed_resource_group(i, scope)) is not None
    ]
