"""Bad input named and refused: every bound of the README's table, NUL and control characters,
a trailing newline, timestamps out of range. INVALID_ARGUMENT with the field first; nothing
written."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from tests.authz.clients import Authz, create_user, user
from tests.security.attackers import refused

pytestmark = pytest.mark.integration


def cases(c: Authz) -> list[tuple[str, Any]]:
    far = pb.ApiKey(scope="a", identifier="far", owner=user("admin"))
    far.expires_at.seconds = 2**62
    many_ids = pb.ResourceFilter(
        resource_type="PIPELINE", identifiers=[f"p{i}" for i in range(1001)]
    )
    return [
        (
            "permission.name",
            c.permissions.CreatePermission(
                pb.CreatePermissionRequest(permission=pb.Permission(name="core_flag_toggle\n"))
            ),
        ),
        (
            "user.identifier",
            c.users.CreateUser(pb.CreateUserRequest(user=pb.User(account="a", identifier="eve\n"))),
        ),
        (
            "user.display_name",
            c.users.CreateUser(
                pb.CreateUserRequest(
                    user=pb.User(account="a", identifier="eve", display_name="e\x00ve")
                )
            ),
        ),
        (
            "user.display_name",
            c.users.CreateUser(
                pb.CreateUserRequest(
                    user=pb.User(account="a", identifier="eve", display_name="x" * 257)
                )
            ),
        ),
        (
            "user.email",
            c.users.CreateUser(
                pb.CreateUserRequest(user=pb.User(account="a", identifier="eve", email="e@x\x07"))
            ),
        ),
        ("scope", c.roles.ListRoles(pb.ListRequest(scope="a\n"))),
        (
            "user_group.members",
            c.groups.CreateUserGroup(
                pb.CreateUserGroupRequest(
                    user_group=pb.UserGroup(
                        scope="a", identifier="g", members=[f"u{i}" for i in range(1001)]
                    )
                )
            ),
        ),
        (
            "role.permissions",
            c.roles.CreateRole(
                pb.CreateRoleRequest(
                    role=pb.Role(
                        scope="a", identifier="r", permissions=["core_pipeline_view"] * 501
                    )
                )
            ),
        ),
        (
            "role.name",
            c.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="r", name="tab\there"))
            ),
        ),
        (
            "resource_group.resource_filters.identifiers",
            c.resource_groups.CreateResourceGroup(
                pb.CreateResourceGroupRequest(
                    resource_group=pb.ResourceGroup(
                        scope="a", identifier="rg", resource_filters=[many_ids]
                    )
                )
            ),
        ),
        (
            "resource_group.included_scopes",
            c.resource_groups.CreateResourceGroup(
                pb.CreateResourceGroupRequest(
                    resource_group=pb.ResourceGroup(
                        scope="a",
                        identifier="rg",
                        include_all_resources=True,
                        included_scopes=["a"] * 101,
                    )
                )
            ),
        ),
        (
            "request_id",
            c.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="r"), request_id="r" * 129)
            ),
        ),
        (
            "request_id",
            c.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="r"), request_id="r\x00")
            ),
        ),
        ("expires_at", c.api_keys.CreateApiKey(pb.CreateApiKeyRequest(api_key=far))),
        (
            "api_key.name",
            c.api_keys.CreateApiKey(
                pb.CreateApiKeyRequest(
                    api_key=pb.ApiKey(
                        scope="a", identifier="k", owner=user("admin"), name="\x1b[31m"
                    )
                )
            ),
        ),
    ]


async def test_every_bound_is_named(authz: Authz, database_url: str) -> None:
    await create_user(authz, "a", "someone")
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT revision FROM policy_revision")
        for field, call in cases(authz):
            error = await refused(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, error.details())
            assert (error.details() or "").startswith(f"{field}:"), (field, error.details())
        assert await conn.fetchval("SELECT revision FROM policy_revision") == before
    finally:
        await conn.close()
