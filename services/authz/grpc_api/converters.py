"""Protobuf <-> domain. Protobuf types stop here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from authz.v1 import authz_pb2 as pb
from services.authz.domain.entities import (
    ApiKey,
    Permission,
    PrincipalRef,
    PrincipalType,
    ResourceFilter,
    ResourceGroup,
    Role,
    RoleBinding,
    ServiceAccount,
    Stored,
    User,
    UserGroup,
)
from services.authz.domain.errors import InvalidArgument

_TYPES: dict[int, PrincipalType] = {
    pb.PRINCIPAL_TYPE_USER: "USER",
    pb.PRINCIPAL_TYPE_USER_GROUP: "USER_GROUP",
    pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT: "SERVICE_ACCOUNT",
}
_TYPE_NUMBERS = {name: number for number, name in _TYPES.items()}


def principal_type(number: int, field: str) -> PrincipalType:
    name = _TYPES.get(number)
    if name is None:
        raise InvalidArgument(field, "give USER, USER_GROUP or SERVICE_ACCOUNT")
    return name


def principal_from(p: pb.Principal, field: str = "principal") -> PrincipalRef:
    return PrincipalRef(principal_type(p.type, f"{field}.type"), p.identifier, p.scope)


def caller_principal_type(name: str) -> Any:
    return _TYPE_NUMBERS.get(name, pb.PRINCIPAL_TYPE_UNSPECIFIED)  # type: ignore[call-overload]


def principal_to(p: PrincipalRef) -> pb.Principal:
    return pb.Principal(
        type=cast(Any, _TYPE_NUMBERS[p.type]), identifier=p.identifier, scope=p.scope
    )


_USER_STATES = {
    pb.USER_STATE_ACTIVE: "ACTIVE",
    pb.USER_STATE_INVITED: "INVITED",
    pb.USER_STATE_DISABLED: "DISABLED",
}
_USER_STATE_NUMBERS = {name: number for number, name in _USER_STATES.items()}


def user_from(m: pb.User) -> User:
    # UNSPECIFIED: "" (created ACTIVE, or unchanged by an update: domain/user_states.py)
    state = _USER_STATES.get(m.state, "")
    return User(m.account, m.identifier, m.email, m.display_name, state)


def user_to(s: Stored) -> pb.User:
    u: User = s.entity
    return pb.User(
        account=u.account,
        identifier=u.identifier,
        email=u.email,
        display_name=u.display_name,
        state=_USER_STATE_NUMBERS.get(u.state, pb.USER_STATE_ACTIVE),
        etag=str(s.etag),
    )


def user_group_from(m: pb.UserGroup) -> UserGroup:
    return UserGroup(m.scope, m.identifier, m.name, tuple(m.members))


def user_group_to(s: Stored) -> pb.UserGroup:
    g: UserGroup = s.entity
    return pb.UserGroup(
        scope=g.scope, identifier=g.identifier, name=g.name, members=g.members, etag=str(s.etag)
    )


def service_account_from(m: pb.ServiceAccount) -> ServiceAccount:
    return ServiceAccount(m.scope, m.identifier, m.name, m.email)


def service_account_to(s: Stored) -> pb.ServiceAccount:
    a: ServiceAccount = s.entity
    return pb.ServiceAccount(
        scope=a.scope, identifier=a.identifier, name=a.name, email=a.email, etag=str(s.etag)
    )


def role_from(m: pb.Role) -> Role:
    return Role(m.scope, m.identifier, m.name, tuple(m.permissions))


def role_to(s: Stored) -> pb.Role:
    r: Role = s.entity
    return pb.Role(
        scope=r.scope,
        identifier=r.identifier,
        name=r.name,
        permissions=r.permissions,
        managed=r.managed,
        etag=str(s.etag),
    )


def resource_group_from(m: pb.ResourceGroup) -> ResourceGroup:
    return ResourceGroup(
        m.scope,
        m.identifier,
        m.name,
        include_child_scopes=m.include_child_scopes,
        included_scopes=tuple(m.included_scopes),
        include_all_resources=m.include_all_resources,
        resource_filters=tuple(
            ResourceFilter(f.resource_type, tuple(f.identifiers)) for f in m.resource_filters
        ),
    )


def resource_group_to(s: Stored) -> pb.ResourceGroup:
    g: ResourceGroup = s.entity
    return pb.ResourceGroup(
        scope=g.scope,
        identifier=g.identifier,
        name=g.name,
        include_child_scopes=g.include_child_scopes,
        included_scopes=g.included_scopes,
        include_all_resources=g.include_all_resources,
        resource_filters=[
            pb.ResourceFilter(resource_type=f.resource_type, identifiers=f.identifiers)
            for f in g.resource_filters
        ],
        managed=g.managed,
        etag=str(s.etag),
    )


def role_binding_from(m: pb.RoleBinding) -> RoleBinding:
    if m.resource_group_scope and m.resource_group_scope != m.scope:
        raise InvalidArgument(
            "role_binding.resource_group_scope",
            f"a binding in {m.scope!r} may only use resource groups defined in {m.scope!r}",
        )
    return RoleBinding(
        m.scope,
        m.identifier,
        principal_from(m.principal, "role_binding.principal"),
        m.role_scope,
        m.role,
        m.resource_group,
        m.disabled,
    )


def role_binding_to(s: Stored) -> pb.RoleBinding:
    b: RoleBinding = s.entity
    return pb.RoleBinding(
        scope=b.scope,
        identifier=b.identifier,
        principal=principal_to(b.principal),
        role_scope=b.role_scope,
        role=b.role,
        resource_group=b.resource_group,
        resource_group_scope=b.scope,
        disabled=b.disabled,
        etag=str(s.etag),
    )


def permission_from(m: pb.Permission) -> Permission:
    return Permission(m.name, m.description)


def permission_to(s: Stored) -> pb.Permission:
    p: Permission = s.entity
    return pb.Permission(
        name=p.name, description=p.description, managed=p.managed, etag=str(s.etag)
    )


def timestamp_or_none(message: Any, field: str) -> datetime | None:
    """A Timestamp field as an aware datetime, None when unset."""
    if not message.HasField(field):
        return None
    try:
        return cast(datetime, getattr(message, field).ToDatetime(tzinfo=UTC))
    except (ValueError, OverflowError, OSError):
        raise InvalidArgument(field, "out of range (years 1 to 9999)") from None


def api_key_from(m: pb.ApiKey) -> ApiKey:
    return ApiKey(m.scope, m.identifier, principal_from(m.owner, "api_key.owner"), m.name)


def api_key_to(s: Stored) -> pb.ApiKey:
    k: ApiKey = s.entity
    message = pb.ApiKey(
        scope=k.scope,
        identifier=k.identifier,
        owner=principal_to(k.owner),
        name=k.name,
        revoked=k.revoked,
        token_prefixes=k.token_prefixes,
        etag=str(s.etag),
    )
    message.created_at.FromDatetime(datetime.fromisoformat(k.created_at))
    if k.expires_at:
        message.expires_at.FromDatetime(datetime.fromisoformat(k.expires_at))
    return message
