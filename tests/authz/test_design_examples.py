"""The six examples of DESIGN.md section 2, through the gRPC API against a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import casbin
import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.casbin_model.enforcer import MODEL_PATH, register_functions
from services.authz.store.casbin_adapter import CasbinRuleAdapter
from tests.authz.clients import Authz, bind, create_user, group, user

pytestmark = pytest.mark.integration


async def test_example_1_project_viewer(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await bind(
        authz, "a/o/p", "b1", user("alice"), "_project_viewer", "_all_project_level_resources"
    )
    assert await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_view")
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_execute")
    assert not await authz.check("alice", "a/o/q", "PIPELINE", "x", "core_pipeline_view")


async def test_example_2_group_defined_above_bound_below(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["alice"])
        )
    )
    await bind(
        authz,
        "a/o/p",
        "b2",
        group("devs", "a"),
        "_pipeline_executor",
        "_all_project_level_resources",
    )
    assert await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_execute")
    assert not await authz.check("alice", "a/o/q", "PIPELINE", "x", "core_pipeline_execute")
    assert not await authz.check("alice", "a", "PIPELINE", "x", "core_pipeline_execute")


async def deploy_only_setup(authz: Authz, include_child_scopes: bool) -> None:
    await create_user(authz, "a", "alice")
    await authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a/o", identifier="deployer", permissions=["core_pipeline_execute"])
        )
    )
    await authz.resource_groups.CreateResourceGroup(
        pb.CreateResourceGroupRequest(
            resource_group=pb.ResourceGroup(
                scope="a/o",
                identifier="deploy_only",
                include_child_scopes=include_child_scopes,
                resource_filters=[
                    pb.ResourceFilter(resource_type="PIPELINE", identifiers=["deploy"])
                ],
            )
        )
    )
    await bind(authz, "a/o", "b3", user("alice"), "deployer", "deploy_only")


async def test_example_3_filter_including_child_scopes(authz: Authz) -> None:
    await deploy_only_setup(authz, include_child_scopes=True)
    assert await authz.check("alice", "a/o/p", "PIPELINE", "deploy", "core_pipeline_execute")
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "build", "core_pipeline_execute")
    # A named filter never grants "every pipeline" in the scope.
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "", "core_pipeline_execute")


async def test_example_4_filter_excluding_child_scopes(authz: Authz) -> None:
    await deploy_only_setup(authz, include_child_scopes=False)
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "deploy", "core_pipeline_execute")
    assert await authz.check("alice", "a/o", "PIPELINE", "deploy", "core_pipeline_execute")


async def test_example_5_disable_binding_and_remove_member_revoke_at_once(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    created = await bind(
        authz, "a/o/p", "b1", user("alice"), "_project_viewer", "_all_project_level_resources"
    )
    assert await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_view")
    disabled = created.role_binding
    disabled.disabled = True
    await authz.bindings.UpdateRoleBinding(disabled)
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_view")

    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["alice"])
        )
    )
    await bind(
        authz,
        "a/o/p",
        "b2",
        group("devs", "a"),
        "_pipeline_executor",
        "_all_project_level_resources",
    )
    assert await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_execute")
    await authz.groups.RemoveMember(pb.MemberRequest(scope="a", identifier="devs", user="alice"))
    assert not await authz.check("alice", "a/o/p", "PIPELINE", "x", "core_pipeline_execute")


async def test_example_6_out_of_scope_role_or_resource_group_is_invalid(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a/o/p", identifier="local", permissions=["core_pipeline_view"])
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as role_error:
        await bind(
            authz, "a/o", "b", user("alice"), "local", "_all_organization_level_resources", "a/o/p"
        )
    assert role_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "role_binding.role_scope" in (role_error.value.details() or "")

    with pytest.raises(grpc.aio.AioRpcError) as group_error:
        await authz.bindings.CreateRoleBinding(
            pb.CreateRoleBindingRequest(
                role_binding=pb.RoleBinding(
                    scope="a/o",
                    identifier="b",
                    principal=user("alice"),
                    role="_organization_viewer",
                    resource_group="_all_project_level_resources",
                    resource_group_scope="a/o/p",
                )
            )
        )
    assert group_error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "role_binding.resource_group_scope" in (group_error.value.details() or "")


async def test_the_stored_policy_is_a_casbin_policy_that_decides_the_same(
    authz: Authz, database_url: str
) -> None:
    """casbin_rule, loaded through the asyncpg adapter into pycasbin's AsyncEnforcer, decides
    every request of a grid exactly as the service does."""
    await deploy_only_setup(authz, include_child_scopes=True)
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["alice"])
        )
    )
    await bind(
        authz,
        "a/o/p",
        "b2",
        group("devs", "a"),
        "_pipeline_executor",
        "_all_project_level_resources",
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        enforcer = casbin.AsyncEnforcer(str(MODEL_PATH), CasbinRuleAdapter(pool))
        register_functions(enforcer)
        await enforcer.load_policy()
        decisions = []
        for scope in ("a", "a/o", "a/o/p", "a/o/q"):
            for rid in ("deploy", "build", ""):
                for permission in (
                    "core_pipeline_execute",
                    "core_pipeline_view",
                    "core_secret_access",
                ):
                    rtype = "SECRET" if permission == "core_secret_access" else "PIPELINE"
                    service = await authz.check("alice", scope, rtype, rid, permission)
                    reference = enforcer.enforce("user:a/alice", scope, rtype, rid, permission)
                    assert service == reference, (scope, rid, permission)
                    decisions.append(service)
        assert any(decisions)
        assert not all(decisions)
    finally:
        await pool.close()
