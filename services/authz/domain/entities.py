"""The RBAC entities, as plain immutable values. Bodies are stored as JSON (to_body/from_body)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

PrincipalType = Literal["USER", "USER_GROUP", "SERVICE_ACCOUNT"]
# The entity kind that stores each type of principal, and back.
KIND_OF_PRINCIPAL: dict[str, str] = {
    "USER": "user",
    "USER_GROUP": "user_group",
    "SERVICE_ACCOUNT": "service_account",
}
PRINCIPAL_OF_KIND = {kind: type_ for type_, kind in KIND_OF_PRINCIPAL.items()}


@dataclass(frozen=True)
class PrincipalRef:
    type: PrincipalType
    identifier: str
    scope: str  # users: their account; groups and service accounts: where they are defined


@dataclass(frozen=True)
class User:
    kind: ClassVar[str] = "user"
    account: str
    identifier: str
    email: str = ""
    display_name: str = ""
    # ACTIVE, or INVITED until the user accepts its invitation: an invited user's bindings and
    # memberships derive no policy lines (management/derivation.py), so nothing grants it
    # anything, and its tokens authenticate no one. Bodies stored before invitations: ACTIVE.
    state: str = "ACTIVE"

    @property
    def scope(self) -> str:
        return self.account


@dataclass(frozen=True)
class UserGroup:
    kind: ClassVar[str] = "user_group"
    scope: str
    identifier: str
    name: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceAccount:
    kind: ClassVar[str] = "service_account"
    scope: str
    identifier: str
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class Role:
    kind: ClassVar[str] = "role"
    scope: str
    identifier: str
    name: str = ""
    permissions: tuple[str, ...] = ()
    managed: bool = False


@dataclass(frozen=True)
class ResourceFilter:
    resource_type: str
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceGroup:
    kind: ClassVar[str] = "resource_group"
    scope: str
    identifier: str
    name: str = ""
    include_child_scopes: bool = False
    included_scopes: tuple[str, ...] = ()
    include_all_resources: bool = False
    resource_filters: tuple[ResourceFilter, ...] = ()
    managed: bool = False


@dataclass(frozen=True)
class RoleBinding:
    kind: ClassVar[str] = "role_binding"
    scope: str
    identifier: str
    principal: PrincipalRef
    role_scope: str
    role: str
    resource_group: str
    disabled: bool = False


@dataclass(frozen=True)
class Permission:
    kind: ClassVar[str] = "permission"
    name: str
    description: str = ""
    managed: bool = False
    scope: ClassVar[str] = ""  # the registry is global

    @property
    def identifier(self) -> str:
        return self.name


@dataclass(frozen=True)
class Stored:
    """An entity as stored, with its etag (the revision of its last write; 0 for managed)."""

    entity: Any
    etag: int


def to_body(entity: Entity) -> dict[str, Any]:
    return dataclasses.asdict(entity)


def from_body(kind: str, body: dict[str, Any]) -> Entity:
    if kind == "user":
        return User(**body)
    if kind == "user_group":
        return UserGroup(**{**body, "members": tuple(body["members"])})
    if kind == "service_account":
        return ServiceAccount(**body)
    if kind == "role":
        return Role(**{**body, "permissions": tuple(body["permissions"])})
    if kind == "resource_group":
        filters = tuple(
            ResourceFilter(f["resource_type"], tuple(f["identifiers"]))
            for f in body["resource_filters"]
        )
        return ResourceGroup(
            **{
                **body,
                "included_scopes": tuple(body["included_scopes"]),
                "resource_filters": filters,
            }
        )
    if kind == "role_binding":
        return RoleBinding(**{**body, "principal": PrincipalRef(**body["principal"])})
    if kind == "permission":
        return Permission(**body)
    if kind == "api_key":
        return ApiKey(
            **{
                **body,
                "owner": PrincipalRef(**body["owner"]),
                "token_prefixes": tuple(body["token_prefixes"]),
            }
        )
    if kind == "governance_policy":
        return GovernancePolicy(**body)
    if kind == "policy_set":
        return PolicySet(
            **{
                **body,
                "entity_types": tuple(body["entity_types"]),
                "events": tuple(body["events"]),
                "policies": tuple(PolicyRef(**p) for p in body["policies"]),
            }
        )
    raise ValueError(f"unknown kind {kind!r}")


@dataclass(frozen=True)
class ApiKey:
    kind: ClassVar[str] = "api_key"
    scope: str  # the owner's scope
    identifier: str
    owner: PrincipalRef
    name: str = ""
    created_at: str = ""  # ISO 8601, UTC
    expires_at: str | None = None
    revoked: bool = False
    token_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class GovernancePolicy:
    """Rego source, compiled by OPA on save (domain/governance.py names its package)."""

    kind: ClassVar[str] = "governance_policy"
    scope: str
    identifier: str
    name: str = ""
    rego: str = ""


@dataclass(frozen=True)
class PolicyRef:
    scope: str  # the policy's scope: the set's own or an ancestor
    identifier: str


@dataclass(frozen=True)
class PolicySet:
    """Policies evaluated on changes of some entity types in its scope and below."""

    kind: ClassVar[str] = "policy_set"
    scope: str
    identifier: str
    name: str = ""
    entity_types: tuple[str, ...] = ()
    events: tuple[str, ...] = ()  # on_save, on_delete
    severity: str = "error"  # error | warning
    enabled: bool = True
    failure_mode: str = ""  # closed | open; empty: closed for error, open for warning
    policies: tuple[PolicyRef, ...] = ()


Entity = (
    User
    | UserGroup
    | ServiceAccount
    | Role
    | ResourceGroup
    | RoleBinding
    | Permission
    | ApiKey
    | GovernancePolicy
    | PolicySet
)
