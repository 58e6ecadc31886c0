"""The first account and its administrator: a user bound to _account_admin over everything in
the account, and an API key whose token is returned once. Likewise a platform operator: a user
of the reserved account `_platform` bound there to a role holding the permission registry."""

from __future__ import annotations

import contextlib
import secrets

from services.authz.api_keys import ApiKeys
from services.authz.domain.audit import SYSTEM_CALL
from services.authz.domain.entities import ApiKey, PrincipalRef, Role, RoleBinding, User
from services.authz.domain.errors import AlreadyExists, FailedPrecondition
from services.authz.management import PLATFORM_SCOPE, Management

ADMIN_ROLE = "_account_admin"
EVERYTHING = "_all_resources_including_child_scopes"


OPERATOR_ROLE = "platform_operator"
OPERATOR_PERMISSIONS = ("core_permission_manage", "core_permission_view")


async def _bound_user(
    management: Management, account: str, user: str, email: str, role: str, binding: str
) -> str:
    """Idempotent for the user and the binding; every call issues a new key and token."""
    with contextlib.suppress(AlreadyExists):
        await management.create(User(account, user, email, user), SYSTEM_CALL)
    existing = await management.get("user", account, user, SYSTEM_CALL)
    if existing.stored.entity.state != "ACTIVE":  # its token would authenticate no one
        raise FailedPrecondition(f"user {user!r} is invited: it joins by accepting")
    principal = PrincipalRef("USER", user, account)
    with contextlib.suppress(AlreadyExists):
        await management.create(
            RoleBinding(account, binding, principal, account, role, EVERYTHING), SYSTEM_CALL
        )
    return await issue_user_key(management, account, user, "bootstrap")


async def issue_user_key(management: Management, account: str, user: str, name: str) -> str:
    """A key of the user issued as SYSTEM (no caller may issue another user's key). Only
    bootstrap does this; users get their first token by accepting an invitation. An INVITED
    user's token would authenticate no one until the invitation is accepted."""
    principal = PrincipalRef("USER", user, account)
    key = ApiKey(account, f"{name}-{secrets.token_hex(4)}", principal, name)
    keys = ApiKeys(management.writer, management.guard, lambda _: None)
    issued = await keys.create(key, SYSTEM_CALL, None)
    return issued.token


async def bootstrap_admin(management: Management, account: str, admin: str, email: str = "") -> str:
    return await _bound_user(
        management, account, admin, email, ADMIN_ROLE, f"{admin}-account-admin"
    )


async def bootstrap_operator(management: Management, operator: str, email: str = "") -> str:
    with contextlib.suppress(AlreadyExists):
        role = Role(PLATFORM_SCOPE, OPERATOR_ROLE, "platform operator", OPERATOR_PERMISSIONS)
        await management.create(role, SYSTEM_CALL)
    return await _bound_user(
        management, PLATFORM_SCOPE, operator, email, OPERATOR_ROLE, f"{operator}-operator"
    )
