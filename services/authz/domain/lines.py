"""The Casbin policy lines that encode the RBAC semantics (model: casbin_model/model.conf).

    p,  <subject>, <role>, <scope>, <scope_mode>, <resource_type>, <resource_id>, <binding>
    g,  <user subject>, <group subject>              (group membership)
    g2, <role>, <permission>                         (role permissions)

Subjects: ``user:<account>/<id>``, ``group:<scope>/<id>``, ``sa:<scope>/<id>``.
Roles: ``role:<scope>/<id>`` for custom roles, ``role:<id>`` for managed roles (ids start with _).
scope_mode: ``exact`` (that scope only) or ``tree`` (that scope and its descendants).
resource_type / resource_id: a value, or ``*`` for all. A request without a resource id asks
about every resource of the type, which only ``*`` grants.
binding: ``<scope>/<binding id>``, so that Explain can name the binding.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

ScopeMode = Literal["exact", "tree"]

ANY: Final = "*"
EXACT: Final = "exact"
TREE: Final = "tree"


class PolicyLine(NamedTuple):
    """One Casbin policy line: its ptype and values (p has 7 values, g and g2 have 2)."""

    ptype: str
    values: tuple[str, ...]


class CheckRequest(NamedTuple):
    """A Casbin request: r = sub, scope, rtype, rid, perm (rid is "" when omitted)."""

    subject: str
    scope: str
    resource_type: str
    resource_id: str
    permission: str


def user_subject(account: str, identifier: str) -> str:
    return f"user:{account}/{identifier}"


def group_subject(scope: str, identifier: str) -> str:
    return f"group:{scope}/{identifier}"


def service_account_subject(scope: str, identifier: str) -> str:
    return f"sa:{scope}/{identifier}"


def role_key(scope: str, identifier: str) -> str:
    """Managed roles (ids starting with _) are the same in every scope: their key has no scope."""
    return f"role:{identifier}" if identifier.startswith("_") else f"role:{scope}/{identifier}"


def binding_key(scope: str, identifier: str) -> str:
    return f"{scope}/{identifier}"


def grant(
    subject: str,
    role: str,
    scope: str,
    mode: ScopeMode,
    resource_type: str,
    resource_id: str,
    binding: str,
) -> PolicyLine:
    return PolicyLine("p", (subject, role, scope, mode, resource_type, resource_id, binding))


def membership(user: str, group: str) -> PolicyLine:
    return PolicyLine("g", (user, group))


def role_permission(role: str, permission: str) -> PolicyLine:
    return PolicyLine("g2", (role, permission))


def scope_covers(policy_scope: str, mode: str, request_scope: str) -> bool:
    """The scope rule of a p line: exact match, or the scope and everything below it."""
    if request_scope == policy_scope:
        return True
    return mode == TREE and request_scope.startswith(policy_scope + "/")
