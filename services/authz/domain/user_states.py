"""A user's state through the management API: a caller creates ACTIVE or DISABLED users and
moves them between the two (deprovisioning: SCIM active=false, or UpdateUser); INVITED is set
by InviteUser only, and left by accepting the invitation, or by disabling (deprovisioning an
invitee: its invitation then opens nothing)."""

from __future__ import annotations

import dataclasses

from services.authz.domain.entities import User, UserGroup
from services.authz.domain.errors import FailedPrecondition, InvalidArgument

SETTABLE = ("ACTIVE", "DISABLED")


def created(user: User) -> User:
    """A new user's state: ACTIVE unless given (empty: not given)."""
    if user.state and user.state not in SETTABLE:
        raise InvalidArgument("user.state", "ACTIVE or DISABLED; invite users with InviteUser")
    return dataclasses.replace(user, state=user.state or "ACTIVE")


def updated(new: User, old: User) -> User:
    """The user as an update writes it: an empty state keeps the old one, and so do the SCIM
    fields that the gRPC API does not carry (None: not given; "" clears)."""
    state = new.state or old.state
    if state != old.state:
        if old.state == "INVITED" and state != "DISABLED":
            raise FailedPrecondition(
                f"{old.identifier!r} is invited: it becomes active by accepting its invitation"
            )
        if state not in SETTABLE:
            raise InvalidArgument("user.state", "ACTIVE or DISABLED")
    return dataclasses.replace(
        new,
        state=state,
        user_name=old.user_name if new.user_name is None else new.user_name,
        external_id=old.external_id if new.external_id is None else new.external_id,
    )


def group_updated(new: UserGroup, old: UserGroup) -> UserGroup:
    """A group's external id is kept when an update does not give one (None)."""
    if new.external_id is not None:
        return new
    return dataclasses.replace(new, external_id=old.external_id)
