"""The first account and its administrator: a user bound to _account_admin over everything in
the account, and an API key whose token is returned once."""

from __future__ import annotations

import contextlib
import secrets

from services.authz.api_keys import ApiKeys
from services.authz.domain.audit import SYSTEM_CALL
from services.authz.domain.entities import ApiKey, PrincipalRef, RoleBinding, User
from services.authz.domain.errors import AlreadyExists
from services.authz.management import Management

ADMIN_ROLE = "_account_admin"
EVERYTHING = "_all_resources_including_child_scopes"


async def bootstrap_admin(management: Management, account: str, admin: str, email: str = "") -> str:
    """Idempotent for the user and the binding; every call issues a new key and token."""
    with contextlib.suppress(AlreadyExists):
        await management.create(User(account, admin, email, admin), SYSTEM_CALL)
    principal = PrincipalRef("USER", admin, account)
    with contextlib.suppress(AlreadyExists):
        await management.create(
            RoleBinding(
                account, f"{admin}-account-admin", principal, account, ADMIN_ROLE, EVERYTHING
            ),
            SYSTEM_CALL,
        )
    key = ApiKey(account, f"bootstrap-{secrets.token_hex(4)}", principal, "bootstrap")
    issued = await ApiKeys(management, lambda _: None).create(key, SYSTEM_CALL, None)
    return issued.token
