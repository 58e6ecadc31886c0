"""authz users and user groups as SCIM resources (scim2-models), and back. Pure: no I/O.

Users: id = the identifier; userName = the login name the identity provider gave (the
identifier for users made through the gRPC API); emails = the one email (primary, work);
displayName = the display name (written from name.formatted, or givenName familyName, when a
document has no displayName; name itself is not stored); active = the state is ACTIVE
(DISABLED users are inactive; INVITED ones show no active); externalId is stored as given.
Groups: id = the identifier; displayName = the name; members = user ids; externalId."""

from __future__ import annotations

from typing import Any

import scim2_models as scim
from pydantic import ValidationError

from services.authz.domain.entities import Stored, User, UserGroup

# Entra ID sends the enterprise extension by default: accepted, and not stored.
USER_MODEL: Any = scim.User[scim.EnterpriseUser]
USERS = "Users"
GROUPS = "Groups"


def etag_of(stored: Stored) -> str:
    return f'W/"{stored.etag}"'


def etag_from_header(header: str | None) -> str:
    """The authz etag an If-Match header names; empty (no check) for none or `*`."""
    if not header or header.strip() == "*":
        return ""
    value = header.strip().removeprefix("W/").strip('"')
    return value or "-"  # an empty quoted tag matches nothing


def _email(address: str) -> list[scim.Email] | None:
    if not address:
        return None
    try:
        return [scim.Email(value=address, primary=True, type=scim.Email.Type.work)]
    except ValidationError:  # an address the gRPC API accepted but SCIM's validator does not
        return None


def user_resource(stored: Stored, base_url: str) -> scim.User[Any]:
    u: User = stored.entity
    resource: scim.User[Any] = USER_MODEL(
        id=u.identifier,
        external_id=u.external_id or None,
        user_name=u.user_name or u.identifier,
        display_name=u.display_name or None,
        # An invited user shows no `active`: it is neither (it may still accept), so that a
        # PATCH to false deprovisions it and other PATCHes leave it invited.
        active=None if u.state == "INVITED" else u.state == "ACTIVE",
        emails=_email(u.email),
        meta=scim.Meta(
            resource_type="User",
            location=f"{base_url}/{USERS}/{u.identifier}",
            version=etag_of(stored),
        ),
    )
    return resource


def group_resource(stored: Stored, base_url: str) -> scim.Group:
    g: UserGroup = stored.entity
    return scim.Group(
        id=g.identifier,
        external_id=g.external_id or None,
        display_name=g.name or g.identifier,
        members=[
            scim.GroupMember.model_validate(
                {"value": m, "type": "User", "$ref": f"{base_url}/{USERS}/{m}"}
            )
            for m in g.members
        ]
        or None,
        meta=scim.Meta(
            resource_type="Group",
            location=f"{base_url}/{GROUPS}/{g.identifier}",
            version=etag_of(stored),
        ),
    )


def _display_name(resource: scim.User[Any]) -> str:
    if resource.display_name:
        return resource.display_name
    name = resource.name
    if name is None:
        return ""
    if name.formatted:
        return name.formatted
    return " ".join(p for p in (name.given_name, name.family_name) if p)


def _primary_email(resource: scim.User[Any]) -> str:
    emails = resource.emails or []
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    if chosen is not None and chosen.value:
        return str(chosen.value)
    user_name = resource.user_name or ""
    return user_name if "@" in user_name else ""


def user_entity(resource: scim.User[Any], account: str, identifier: str) -> User:
    """The user a SCIM document describes. `active` absent: state "" (created ACTIVE, or
    unchanged by a replace)."""
    state = "" if resource.active is None else ("ACTIVE" if resource.active else "DISABLED")
    return User(
        account,
        identifier,
        _primary_email(resource),
        _display_name(resource),
        state,
        user_name=resource.user_name or "",
        external_id=resource.external_id or "",  # absent from a SCIM document: cleared
    )


def group_entity(resource: scim.Group, account: str, identifier: str) -> UserGroup:
    given = resource.members or []
    if any(m.type == "Group" for m in given):
        raise scim.InvalidValueException(detail="groups hold users only: no nested groups")
    members = tuple(str(m.value) for m in given if m.value)
    return UserGroup(
        account,
        identifier,
        resource.display_name or "",
        members,
        external_id=resource.external_id or "",
    )
