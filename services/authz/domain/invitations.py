"""Invitations as values: the request an administrator makes, the invitation as stored, its
state at a moment, its one-time secret and what an audit event may show of it (never the
secret). Pure: no I/O, the clock is passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from services.authz.domain import scopes, validation
from services.authz.domain.errors import InvalidArgument
from services.authz.domain.tokens import NewToken, new_token

State = Literal["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"]
STATES: tuple[State, ...] = ("PENDING", "ACCEPTED", "REVOKED", "EXPIRED")
MAX_GROUPS = 50
# `inv_<prefix>_<secret>`: the prefix names the invitation (it is not secret, like an API key
# token's), the secret carries 256 random bits and is stored only as a SHA-256.
SECRET = re.compile(r"inv_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")  # fullmatch only
MAX_SECRET = 100  # longer input is not parsed at all


class GroupRef(NamedTuple):
    scope: str
    identifier: str


@dataclass(frozen=True)
class InviteRequest:
    account: str
    user: str
    email: str
    display_name: str = ""
    user_groups: tuple[GroupRef, ...] = ()


@dataclass(frozen=True)
class Inviter:
    type: str  # USER or SERVICE_ACCOUNT (SYSTEM for operators' tools)
    identifier: str
    scope: str = ""
    email: str = ""


@dataclass(frozen=True)
class Invitation:
    """One invitation per invited user; a resend replaces its secret (prefix and hash)."""

    account: str
    user: str
    email: str
    display_name: str
    user_groups: tuple[GroupRef, ...]
    inviter: Inviter
    prefix: str
    secret_hash: bytes
    created_at: datetime
    expires_at: datetime
    sends: int = 1
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    expired_at: datetime | None = None  # when the expiry was recorded (audited), if it was


def new_secret() -> NewToken:
    """The whole `inv_...` string (`.token`) goes into the notification only."""
    return new_token("inv")


def parse_secret(value: str) -> tuple[str, str] | None:
    """(prefix, secret part) of a well-formed secret, else None."""
    if len(value) > MAX_SECRET:
        return None
    match = SECRET.fullmatch(value.strip())
    return (match.group(1), match.group(2)) if match else None


def state_at(invitation: Invitation, now: datetime) -> State:
    """Accepted and revoked are final; an open invitation is expired from expires_at on,
    whether or not the expiry has been recorded yet."""
    if invitation.accepted_at is not None:
        return "ACCEPTED"
    if invitation.revoked_at is not None:
        return "REVOKED"
    if invitation.expires_at <= now:
        return "EXPIRED"
    return "PENDING"


def checked_request(request: InviteRequest) -> InviteRequest:
    """The request normalized, or InvalidArgument naming the field as InviteUserRequest does."""
    scopes.check_scope(request.account, "account")
    if scopes.level(request.account) != "account":
        raise InvalidArgument("account", "users are account-level: give the account only")
    if scopes.is_reserved_account(request.account):
        raise InvalidArgument("account", "accounts starting with '_' are reserved")
    scopes.check_identifier(request.user, "user")
    if request.user.startswith("_"):
        raise InvalidArgument("user", "identifiers starting with '_' are reserved")
    if not request.email:
        raise InvalidArgument("email", "required: where the invitation is sent")
    validation.text(request.email, "email", validation.MAX_EMAIL)
    if request.email.count("@") != 1 or any(c.isspace() for c in request.email):
        raise InvalidArgument("email", "not an email address")
    validation.text(request.display_name, "display_name")
    validation.bounded(request.user_groups, "user_groups", MAX_GROUPS)
    for group in request.user_groups:
        scopes.check_scope(group.scope, "user_groups.scope")
        if not scopes.is_within(group.scope, request.account):
            raise InvalidArgument("user_groups.scope", f"{group.scope!r} is not in the account")
        scopes.check_identifier(group.identifier, "user_groups.identifier")
    return InviteRequest(
        request.account,
        request.user,
        request.email,
        request.display_name,
        tuple(sorted(set(request.user_groups))),
    )


def check_account_user(account: str, user: str) -> None:
    scopes.check_scope(account, "account")
    if scopes.level(account) != "account":
        raise InvalidArgument("account", "invitations are account-level: give the account only")
    scopes.check_identifier(user, "user")


def view(invitation: Invitation, now: datetime) -> dict[str, Any]:
    """What an audit event shows of an invitation: everything but the secret and its hash."""
    return {
        "account": invitation.account,
        "user": invitation.user,
        "email": invitation.email,
        "display_name": invitation.display_name,
        "user_groups": [f"{g.scope}/{g.identifier}" for g in invitation.user_groups],
        "inviter": invitation.inviter.identifier,
        "state": state_at(invitation, now),
        "expires_at": invitation.expires_at.isoformat(),
        "sends": invitation.sends,
    }
