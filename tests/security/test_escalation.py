"""The escalation matrix: for each management permission held alone (or with the ones it is
used with), every RPC it enables is tried in ways that would grant the caller, or a principal
it controls, something it does not hold. Nothing succeeds, nothing changes what the caller may
do, and every refusal is audited. Controls: the same permissions do work where they grant
nothing new."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from tests.authz.clients import Authz, bind, create_user, group, user
from tests.security.attackers import (
    EVERYTHING,
    denials_of,
    effective,
    holder_of,
    refused,
    status_of,
)

pytestmark = pytest.mark.integration

Attack = Callable[[Authz, str], Awaitable[Any]]  # (attacker's client, its identifier) -> reply


@dataclass(frozen=True)
class Case:
    name: str
    holds: list[str]
    attack: Attack
    reason: str = "would grant what the caller does not hold"


async def _bind_admin_to_self(c: Authz, me: str) -> Any:
    return await bind(c, "a", f"{me}-admin", user(me), "_account_admin", EVERYTHING)


async def _bind_admin_to_own_group(c: Authz, me: str) -> Any:
    # The admin made group "crew" with the attacker in it (unbound, so it granted nothing).
    return await bind(c, "a", f"{me}-crew", group("crew", "a"), "_account_admin", EVERYTHING)


async def _bind_secret_role_below(c: Authz, me: str) -> Any:
    return await bind(c, "a/o/p", f"{me}-sec", user(me), "secrets", EVERYTHING, role_scope="a")


async def _enable_disabled_admin_binding(c: Authz, me: str) -> Any:
    b = (
        await c.bindings.GetRoleBinding(pb.GetRequest(scope="a", identifier="dormant"))
    ).role_binding
    b.disabled = False
    return await c.bindings.UpdateRoleBinding(b)


async def _enable_disabled_admin(c: Authz, me: str) -> Any:
    # "sleeper" is in the admins group, disabled by the administrator.
    sleeper = (await c.users.GetUser(pb.GetRequest(scope="a", identifier="sleeper"))).user
    sleeper.state = pb.USER_STATE_ACTIVE
    return await c.users.UpdateUser(sleeper)


async def _retarget_own_binding(c: Authz, me: str) -> Any:
    b = (
        await c.bindings.GetRoleBinding(pb.GetRequest(scope="a", identifier=f"{me}-b"))
    ).role_binding
    b.role, b.role_scope = "_account_admin", ""
    return await c.bindings.UpdateRoleBinding(b)


async def _add_permission_to_own_role(c: Authz, me: str) -> Any:
    mine = (
        await c.bindings.GetRoleBinding(pb.GetRequest(scope="a", identifier=f"{me}-b"))
    ).role_binding
    role = (await c.roles.GetRole(pb.GetRequest(scope="a", identifier=mine.role))).role
    role.permissions.append("core_secret_access")
    return await c.roles.UpdateRole(role)


async def _add_permission_to_crew_role(c: Authz, me: str) -> Any:
    role = (await c.roles.GetRole(pb.GetRequest(scope="a", identifier="crew_role"))).role
    role.permissions.append("core_user_manage")
    return await c.roles.UpdateRole(role)


async def _join_admins(c: Authz, me: str) -> Any:
    return await c.groups.AddMember(pb.MemberRequest(scope="a", identifier="admins", user=me))


async def _join_admins_by_update(c: Authz, me: str) -> Any:
    g = (await c.groups.GetUserGroup(pb.GetRequest(scope="a", identifier="admins"))).user_group
    g.members.append(me)
    return await c.groups.UpdateUserGroup(g)


async def _widen_resource_group(c: Authz, me: str) -> Any:
    rg = (
        await c.resource_groups.GetResourceGroup(pb.GetRequest(scope="a", identifier="one_secret"))
    ).resource_group
    del rg.resource_filters[:]
    rg.include_all_resources = True
    return await c.resource_groups.UpdateResourceGroup(rg)


async def _widen_resource_group_below(c: Authz, me: str) -> Any:
    rg = (
        await c.resource_groups.GetResourceGroup(pb.GetRequest(scope="a", identifier="one_secret"))
    ).resource_group
    rg.include_child_scopes = True
    return await c.resource_groups.UpdateResourceGroup(rg)


async def _key_for_admin(c: Authz, me: str) -> Any:
    owner = user("admin")
    return await c.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope="a", identifier="stolen", owner=owner))
    )


async def _rotate_admin_key(c: Authz, me: str) -> Any:
    return await c.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope="a", identifier="admins-key"))


async def _key_for_powerful_service_account(c: Authz, me: str) -> Any:
    owner = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="robot", scope="a")
    return await c.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope="a", identifier="robokey", owner=owner))
    )


async def _bind_admin_to_own_service_account(c: Authz, me: str) -> Any:
    sa = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="minion", scope="a")
    return await bind(c, "a", f"{me}-minion", sa, "_account_admin", EVERYTHING)


CASES = [
    Case(
        "binding manager binds _account_admin to itself",
        ["core_rolebinding_manage"],
        _bind_admin_to_self,
    ),
    Case(
        "binding manager binds _account_admin to its group",
        ["core_rolebinding_manage"],
        _bind_admin_to_own_group,
    ),
    Case(
        "binding manager binds a secret role to itself below",
        ["core_rolebinding_manage"],
        _bind_secret_role_below,
    ),
    Case(
        "binding manager enables a dormant admin binding",
        ["core_rolebinding_manage", "core_rolebinding_view"],
        _enable_disabled_admin_binding,
    ),
    Case(
        "user manager enables an administrator that was disabled",
        ["core_user_manage", "core_user_view"],
        _enable_disabled_admin,
    ),
    Case(
        "binding manager points its own binding at _account_admin",
        ["core_rolebinding_manage", "core_rolebinding_view"],
        _retarget_own_binding,
    ),
    Case(
        "role editor adds a permission to its own role",
        ["core_role_edit", "core_role_view", "core_rolebinding_view"],
        _add_permission_to_own_role,
    ),
    Case(
        "role editor adds a permission to its group's role",
        ["core_role_edit", "core_role_view"],
        _add_permission_to_crew_role,
    ),
    Case("group manager joins the admins", ["core_usergroup_manage"], _join_admins),
    Case(
        "group manager joins the admins by update",
        ["core_usergroup_manage", "core_usergroup_view"],
        _join_admins_by_update,
    ),
    Case(
        "resource group editor widens its grant",
        ["core_resourcegroup_edit", "core_resourcegroup_view"],
        _widen_resource_group,
    ),
    Case(
        "resource group editor widens its grant below",
        ["core_resourcegroup_edit", "core_resourcegroup_view"],
        _widen_resource_group_below,
    ),
    Case(
        "user manager issues a key of the administrator",
        ["core_user_manage"],
        _key_for_admin,
        "nobody issues keys owned by another user",
    ),
    Case(
        "user manager rotates the administrator's key",
        ["core_user_manage"],
        _rotate_admin_key,
        "may not manage API key 'admins-key'",
    ),
    Case(
        "service account editor issues a key of an admin robot",
        ["core_serviceaccount_edit"],
        _key_for_powerful_service_account,
        "core_serviceaccount_manageapikey",
    ),
    Case(
        "binding manager makes its service account an admin",
        ["core_rolebinding_manage", "core_serviceaccount_manageapikey"],
        _bind_admin_to_own_service_account,
    ),
]


async def stage(admin: Authz, attacker: str) -> None:
    """What the attacks aim at, made by the administrator."""
    await admin.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="secrets", permissions=["core_secret_access"])
        )
    )
    await create_user(admin, "a", "boss")
    await admin.users.CreateUser(
        pb.CreateUserRequest(
            user=pb.User(account="a", identifier="sleeper", state=pb.USER_STATE_DISABLED)
        )
    )
    await admin.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="admins", members=["boss", "sleeper"])
        )
    )
    await bind(admin, "a", "admins-b", group("admins", "a"), "_account_admin", EVERYTHING)
    await admin.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="crew", members=[attacker])
        )
    )
    await admin.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="crew_role", permissions=["core_project_view"])
        )
    )
    await bind(admin, "a", "crew-b", group("crew", "a"), "crew_role", EVERYTHING)
    dormant = pb.RoleBinding(
        scope="a",
        identifier="dormant",
        principal=user(attacker),
        role="_account_admin",
        resource_group=EVERYTHING,
        disabled=True,
    )
    await admin.bindings.CreateRoleBinding(pb.CreateRoleBindingRequest(role_binding=dormant))
    one_secret = pb.ResourceGroup(
        scope="a",
        identifier="one_secret",
        resource_filters=[pb.ResourceFilter(resource_type="SECRET", identifiers=["x"])],
    )
    await admin.resource_groups.CreateResourceGroup(
        pb.CreateResourceGroupRequest(resource_group=one_secret)
    )
    await bind(admin, "a", f"{attacker}-one", user(attacker), "secrets", "one_secret")
    admin_key = pb.ApiKey(scope="a", identifier="admins-key", owner=user("admin"))
    await admin.api_keys.CreateApiKey(pb.CreateApiKeyRequest(api_key=admin_key))
    for name in ("robot", "minion"):
        await admin.service_accounts.CreateServiceAccount(
            pb.CreateServiceAccountRequest(
                service_account=pb.ServiceAccount(scope="a", identifier=name)
            )
        )
    robot = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="robot", scope="a")
    await bind(admin, "a", "robot-admin", robot, "_account_admin", EVERYTHING)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_no_permission_held_alone_grants_more(
    authz: Authz, database_url: str, case: Case
) -> None:
    me, attacker = await holder_of(authz, "a", case.holds)
    await stage(authz, me)
    before = {s: await effective(authz, me, s) for s in ("a", "a/o/p")}
    denied_before = len(await denials_of(database_url, me))

    error = await refused(case.attack(attacker, me))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert case.reason in (error.details() or "")
    assert {s: await effective(authz, me, s) for s in ("a", "a/o/p")} == before
    robot = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="minion", scope="a")
    minion = await authz.access.ListEffectivePermissions(
        pb.ListEffectivePermissionsRequest(principal=robot, scope="a")
    )
    assert not minion.permissions
    assert len(await denials_of(database_url, me)) == denied_before + 1
    await attacker.channel.close(None)


async def test_a_caller_grants_what_it_holds(authz: Authz) -> None:
    """The rule is not a blanket refusal: a project admin who may manage bindings there binds
    _pipeline_executor (which it holds) to someone else, but not _project_admin elsewhere."""
    me, lead = await holder_of(authz, "a", [], scope="a/o/p")
    await bind(
        authz, "a/o/p", f"{me}-padmin", user(me), "_project_admin", "_all_project_level_resources"
    )
    await create_user(authz, "a", "dev")
    granted = await bind(
        lead, "a/o/p", "dev-exec", user("dev"), "_pipeline_executor", "_all_project_level_resources"
    )
    assert granted.role_binding.identifier == "dev-exec"
    other = await status_of(
        bind(lead, "a/o/q", "dev-q", user("dev"), "_project_admin", "_all_project_level_resources")
    )
    assert other == grpc.StatusCode.PERMISSION_DENIED
    await lead.channel.close(None)


async def test_an_editor_changes_what_grants_nothing_new(authz: Authz) -> None:
    me, editor = await holder_of(
        authz, "a", ["core_role_edit", "core_role_view", "core_usergroup_manage"]
    )
    await editor.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="unbound", permissions=["core_secret_access"])
        )
    )
    role = (await editor.roles.GetRole(pb.GetRequest(scope="a", identifier="unbound"))).role
    role.permissions.append("core_user_manage")  # bound nowhere: grants nothing yet
    await editor.roles.UpdateRole(role)
    await editor.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="fresh", members=[me])
        )
    )
    await editor.channel.close(None)
