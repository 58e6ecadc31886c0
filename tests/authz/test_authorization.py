"""The service's own API is authorized by its RBAC model; denials are audit events; secrets never
leak into logs, events or error messages."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import governance_pb2 as gpb
from authz.v1 import governance_pb2_grpc as gpb_grpc
from services.authz.domain import required_permissions
from tests.authz.clients import Authz, bind, connect, create_user, user, user_token
from tests.security.attackers import outbox_events

pytestmark = pytest.mark.integration


async def token_for(authz: Authz, identifier: str) -> str:
    await create_user(authz, "a", identifier)
    return await user_token(authz.server, "a", identifier)


def management_calls(c: Authz) -> list[tuple[str, Any]]:
    """One call of every management RPC, each valid and aimed at account "a"."""
    g = pb.GetRequest(scope="a", identifier="admin")
    d = pb.DeleteRequest(scope="a", identifier="admin")
    lst = pb.ListRequest(scope="a")
    admin = pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="admin")
    return [
        (
            "CreateUser",
            c.users.CreateUser(pb.CreateUserRequest(user=pb.User(account="a", identifier="x"))),
        ),
        ("GetUser", c.users.GetUser(g)),
        ("UpdateUser", c.users.UpdateUser(pb.User(account="a", identifier="admin"))),
        ("DeleteUser", c.users.DeleteUser(d)),
        ("ListUsers", c.users.ListUsers(lst)),
        (
            "CreateUserGroup",
            c.groups.CreateUserGroup(
                pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier="g"))
            ),
        ),
        ("GetUserGroup", c.groups.GetUserGroup(g)),
        ("UpdateUserGroup", c.groups.UpdateUserGroup(pb.UserGroup(scope="a", identifier="g"))),
        ("DeleteUserGroup", c.groups.DeleteUserGroup(d)),
        ("ListUserGroups", c.groups.ListUserGroups(lst)),
        (
            "AddMember",
            c.groups.AddMember(pb.MemberRequest(scope="a", identifier="g", user="admin")),
        ),
        (
            "RemoveMember",
            c.groups.RemoveMember(pb.MemberRequest(scope="a", identifier="g", user="admin")),
        ),
        (
            "CreateServiceAccount",
            c.service_accounts.CreateServiceAccount(
                pb.CreateServiceAccountRequest(
                    service_account=pb.ServiceAccount(scope="a", identifier="s")
                )
            ),
        ),
        ("GetServiceAccount", c.service_accounts.GetServiceAccount(g)),
        (
            "UpdateServiceAccount",
            c.service_accounts.UpdateServiceAccount(pb.ServiceAccount(scope="a", identifier="s")),
        ),
        ("DeleteServiceAccount", c.service_accounts.DeleteServiceAccount(d)),
        ("ListServiceAccounts", c.service_accounts.ListServiceAccounts(lst)),
        (
            "CreateRole",
            c.roles.CreateRole(pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="r"))),
        ),
        ("GetRole", c.roles.GetRole(g)),
        ("UpdateRole", c.roles.UpdateRole(pb.Role(scope="a", identifier="r"))),
        ("DeleteRole", c.roles.DeleteRole(d)),
        ("ListRoles", c.roles.ListRoles(lst)),
        (
            "CreateResourceGroup",
            c.resource_groups.CreateResourceGroup(
                pb.CreateResourceGroupRequest(
                    resource_group=pb.ResourceGroup(
                        scope="a", identifier="rg", include_all_resources=True
                    )
                )
            ),
        ),
        ("GetResourceGroup", c.resource_groups.GetResourceGroup(g)),
        (
            "UpdateResourceGroup",
            c.resource_groups.UpdateResourceGroup(
                pb.ResourceGroup(scope="a", identifier="rg", include_all_resources=True)
            ),
        ),
        ("DeleteResourceGroup", c.resource_groups.DeleteResourceGroup(d)),
        ("ListResourceGroups", c.resource_groups.ListResourceGroups(lst)),
        (
            "CreateRoleBinding",
            c.bindings.CreateRoleBinding(
                pb.CreateRoleBindingRequest(
                    role_binding=pb.RoleBinding(
                        scope="a",
                        identifier="b",
                        principal=admin,
                        role="_account_viewer",
                        resource_group="_all_account_level_resources",
                    )
                )
            ),
        ),
        ("GetRoleBinding", c.bindings.GetRoleBinding(g)),
        (
            "UpdateRoleBinding",
            c.bindings.UpdateRoleBinding(
                pb.RoleBinding(
                    scope="a",
                    identifier="b",
                    principal=admin,
                    role="_account_viewer",
                    resource_group="_all_account_level_resources",
                )
            ),
        ),
        ("DeleteRoleBinding", c.bindings.DeleteRoleBinding(d)),
        ("ListRoleBindings", c.bindings.ListRoleBindings(lst)),
        (
            "CreatePermission",
            c.permissions.CreatePermission(
                pb.CreatePermissionRequest(permission=pb.Permission(name="core_flag_toggle"))
            ),
        ),
        (
            "UpdatePermission",
            c.permissions.UpdatePermission(pb.Permission(name="core_flag_toggle")),
        ),
        (
            "DeletePermission",
            c.permissions.DeletePermission(pb.DeleteRequest(identifier="core_flag_toggle")),
        ),
        (
            "CreateApiKey",
            c.api_keys.CreateApiKey(
                pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope="a", identifier="k", owner=admin))
            ),
        ),
        ("ListApiKeys", c.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=admin, scope="a"))),
        *governance_calls(gpb_grpc.GovernanceServiceStub(c.channel), g, d, lst),
    ]


def governance_calls(
    gov: gpb_grpc.GovernanceServiceAsyncStub,
    g: pb.GetRequest,
    d: pb.DeleteRequest,
    lst: pb.ListRequest,
) -> list[tuple[str, Any]]:
    policy = gpb.GovernancePolicy(scope="a", identifier="p", rego="package p")
    policy_set = gpb.PolicySet(
        scope="a",
        identifier="s",
        entity_types=["role"],
        events=[gpb.GOVERNANCE_EVENT_ON_SAVE],
        severity=gpb.SEVERITY_ERROR,
        policies=[gpb.PolicyRef(scope="a", identifier="p")],
    )
    evaluate = gpb.EvaluateRequest(
        entity_type="role",
        event=gpb.GOVERNANCE_EVENT_ON_SAVE,
        scope="a",
        after_json='{"scope": "a", "identifier": "r"}',
    )
    return [
        (
            "CreateGovernancePolicy",
            gov.CreateGovernancePolicy(gpb.CreateGovernancePolicyRequest(policy=policy)),
        ),
        ("GetGovernancePolicy", gov.GetGovernancePolicy(g)),
        ("UpdateGovernancePolicy", gov.UpdateGovernancePolicy(policy)),
        ("DeleteGovernancePolicy", gov.DeleteGovernancePolicy(d)),
        ("ListGovernancePolicies", gov.ListGovernancePolicies(lst)),
        ("CreatePolicySet", gov.CreatePolicySet(gpb.CreatePolicySetRequest(policy_set=policy_set))),
        ("GetPolicySet", gov.GetPolicySet(g)),
        ("UpdatePolicySet", gov.UpdatePolicySet(policy_set)),
        ("DeletePolicySet", gov.DeletePolicySet(d)),
        ("ListPolicySets", gov.ListPolicySets(lst)),
        ("Evaluate", gov.Evaluate(evaluate)),
    ]


async def denial_events(database_url: str) -> list[ev.AuditEvent]:
    events = await outbox_events(database_url)
    return [e for e in events if e.action == ev.ACTION_ACCESS_DENIED]


async def test_a_caller_without_permission_is_denied_every_management_rpc_and_audited(
    authz: Authz, database_url: str
) -> None:
    carol = await connect(authz.server, await token_for(authz, "carol"))
    calls = management_calls(carol)
    for name, call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
    denials = await denial_events(database_url)
    assert {(e.principal.type, e.principal.identifier) for e in denials} == {
        (ev.PRINCIPAL_TYPE_USER, "carol")
    }
    # Every refused permission is audited, once per permission and scope within the window
    # (coalesced: a caller cannot flood the trail by repeating itself).
    where = [
        (e.resource.labels["permission"], e.scope.account, e.scope.organization, e.scope.project)
        for e in denials
    ]
    assert len(where) == len(set(where))
    assert {w[0] for w in where} == {p for p in required_permissions.PERMISSIONS.values() if p}
    await carol.channel.close(None)


async def test_a_viewer_reads_but_does_not_write(authz: Authz) -> None:
    token = await token_for(authz, "vera")
    await bind(
        authz,
        "a",
        "vera-view",
        user("vera"),
        "_account_viewer",
        "_all_resources_including_child_scopes",
    )
    vera = await connect(authz.server, token)
    listed = await vera.roles.ListRoles(pb.ListRequest(scope="a/o/p"))
    assert listed.roles
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await vera.roles.CreateRole(pb.CreateRoleRequest(role=pb.Role(scope="a/o", identifier="r")))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await vera.channel.close(None)


async def test_checking_someone_else_needs_a_permission_of_its_own(authz: Authz) -> None:
    carol = await connect(authz.server, await token_for(authz, "carol"))
    about = pb.CheckRequest(
        principal=user("admin"), resource_scope="a", resource_type="PROJECT",
        resource_identifier="p", permission="core_project_view",
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await carol.access.Check(about)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    about_herself = pb.CheckRequest()
    about_herself.CopyFrom(about)
    about_herself.principal.identifier = "carol"
    assert not (await carol.access.Check(about_herself)).allowed
    batch = await carol.access.BatchCheck(pb.BatchCheckRequest(items=[about_herself, about]))
    assert not batch.results[0].HasField("error")
    assert batch.results[1].error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    # The administrator holds core_access_check through _account_admin.
    assert (await authz.access.Check(about)).allowed
    await carol.channel.close(None)


async def test_tokens_never_reach_logs_events_or_errors(
    authz: Authz, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await token_for(authz, "dave")
    secret = token.split("_", 2)[2]
    dave = await connect(authz.server, token)
    errors: list[str] = []
    for bad in (token + "x", token[:-2], f"{token} {token}"):
        intruder = await connect(authz.server, bad)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await intruder.users.ListUsers(pb.ListRequest(scope="a"))
        errors.append(f"{info.value.details()} {info.value.debug_error_string()}")
        await intruder.channel.close(None)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await dave.users.ListUsers(pb.ListRequest(scope="a"))
    errors.append(f"{denied.value.details()} {denied.value.debug_error_string()}")
    listed = await dave.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=user("dave"), scope="a"))
    key_id = listed.api_keys[0].identifier
    rotated = await dave.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope="a", identifier=key_id))
    conn = await asyncpg.connect(database_url)
    try:
        stored = [bytes(r["payload"]) for r in await conn.fetch("SELECT payload FROM outbox")]
        dumped = " ".join(str(r) for r in await conn.fetch("SELECT * FROM entities"))
    finally:
        await conn.close()
    for needle in (token, secret, rotated.token, rotated.token.split("_", 2)[2]):
        assert needle not in caplog.text
        assert all(needle.encode() not in payload for payload in stored)
        assert all(needle not in error for error in errors)
        assert needle not in dumped
    assert any(key_id.encode() in payload for payload in stored)  # the key's events are there
    await dave.channel.close(None)
