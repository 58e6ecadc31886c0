"""Management RPC families through gRPC: CRUD, members, managed entities, etags, request ids,
pagination, cascades. Against a real PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from tests.authz.clients import Authz, bind, create_user, group, operator, user

pytestmark = pytest.mark.integration


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value


async def test_users_crud_and_revisions_increase(authz: Authz) -> None:
    created = await create_user(authz, "a", "alice")
    assert created.user.email == "alice@example.com"
    got = await authz.users.GetUser(pb.GetRequest(scope="a", identifier="alice"))
    assert got.user == created.user
    changed = created.user
    changed.display_name = "Alice"
    updated = await authz.users.UpdateUser(changed)
    assert updated.revision > created.revision
    assert updated.user.display_name == "Alice"
    assert updated.user.etag != created.user.etag
    deleted = await authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="alice"))
    assert deleted.revision > updated.revision
    error = await rpc_error(authz.users.GetUser(pb.GetRequest(scope="a", identifier="alice")))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_duplicate_create_is_already_exists(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    error = await rpc_error(create_user(authz, "a", "alice"))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_request_id_makes_create_idempotent(authz: Authz) -> None:
    request = pb.CreateRoleRequest(
        request_id="req-1",
        role=pb.Role(scope="a", identifier="r", permissions=["core_pipeline_view"]),
    )
    first = await authz.roles.CreateRole(request)
    again = await authz.roles.CreateRole(request)
    assert again == first
    listed = await authz.roles.ListRoles(pb.ListRequest(scope="a", page_size=100))
    assert [r.identifier for r in listed.roles].count("r") == 1


async def test_etag_mismatch_refuses_the_write(authz: Authz) -> None:
    created = await create_user(authz, "a", "alice")
    first = created.user
    first.display_name = "one"
    await authz.users.UpdateUser(first)
    stale = created.user
    stale.display_name = "two"
    stale.etag = created.user.etag  # the etag read before the first update
    stale_update = pb.User()
    stale_update.CopyFrom(stale)
    stale_update.etag = str(created.revision)
    error = await rpc_error(authz.users.UpdateUser(stale_update))
    assert error.code() == grpc.StatusCode.ABORTED
    error = await rpc_error(
        authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="alice", etag="1"))
    )
    assert error.code() == grpc.StatusCode.ABORTED
    current = await authz.users.GetUser(pb.GetRequest(scope="a", identifier="alice"))
    assert current.user.display_name == "one"


async def test_groups_and_members(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await create_user(authz, "a", "bob")
    created = await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a/o", identifier="devs"))
    )
    added = await authz.groups.AddMember(
        pb.MemberRequest(scope="a/o", identifier="devs", user="bob", etag=created.user_group.etag)
    )
    assert list(added.user_group.members) == ["bob"]
    error = await rpc_error(
        authz.groups.AddMember(pb.MemberRequest(scope="a/o", identifier="devs", user="nobody"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = await rpc_error(
        authz.groups.RemoveMember(pb.MemberRequest(scope="a/o", identifier="devs", user="alice"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    removed = await authz.groups.RemoveMember(
        pb.MemberRequest(scope="a/o", identifier="devs", user="bob")
    )
    assert list(removed.user_group.members) == []


async def test_service_account_binding_grants(authz: Authz) -> None:
    await authz.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(
            service_account=pb.ServiceAccount(scope="a", identifier="ci", name="CI")
        )
    )
    sa = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="ci", scope="a")
    await bind(authz, "a/o/p", "b", sa, "_pipeline_executor", "_all_project_level_resources")
    assert await authz.check(
        "ci", "a/o/p", "PIPELINE", "x", "core_pipeline_execute",
        principal_type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, principal_scope="a",
    )  # fmt: skip
    listed = await authz.service_accounts.ListServiceAccounts(pb.ListRequest(scope="a"))
    assert [s.identifier for s in listed.service_accounts] == ["ci"]


async def test_managed_roles_and_groups_exist_and_cannot_change(authz: Authz) -> None:
    got = await authz.roles.GetRole(pb.GetRequest(scope="a/o/p", identifier="_project_viewer"))
    assert got.role.managed
    assert "core_pipeline_view" in got.role.permissions
    listed = await authz.roles.ListRoles(pb.ListRequest(scope="a/o/p"))
    assert {"_project_admin", "_project_viewer", "_pipeline_executor"} <= {
        r.identifier for r in listed.roles
    }
    error = await rpc_error(
        authz.roles.DeleteRole(pb.DeleteRequest(scope="a/o/p", identifier="_project_viewer"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    edited = got.role
    edited.permissions.append("core_secret_access")
    error = await rpc_error(authz.roles.UpdateRole(edited))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    groups = await authz.resource_groups.ListResourceGroups(pb.ListRequest(scope="a"))
    assert {"_all_account_level_resources", "_all_resources_including_child_scopes"} <= {
        g.identifier for g in groups.resource_groups
    }
    error = await rpc_error(
        authz.resource_groups.DeleteResourceGroup(
            pb.DeleteRequest(scope="a", identifier="_all_account_level_resources")
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_pagination_walks_every_item_once(authz: Authz) -> None:
    for i in range(7):
        await create_user(authz, "a", f"u{i}")
    seen: list[str] = []
    token = ""
    while True:
        page = await authz.users.ListUsers(pb.ListRequest(scope="a", page_size=3, page_token=token))
        assert len(page.users) <= 3
        seen += [u.identifier for u in page.users]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["admin", *(f"u{i}" for i in range(7))]  # admin: the bootstrap user


async def test_roles_list_merges_managed_and_custom_across_pages(authz: Authz) -> None:
    for name in ("zeta", "alpha"):
        await authz.roles.CreateRole(
            pb.CreateRoleRequest(role=pb.Role(scope="a/o/p", identifier=name))
        )
    seen: list[str] = []
    token = ""
    while True:
        page = await authz.roles.ListRoles(
            pb.ListRequest(scope="a/o/p", page_size=2, page_token=token)
        )
        seen += [r.identifier for r in page.roles]
        if not (token := page.next_page_token):
            break
    assert seen == sorted(
        ["_pipeline_executor", "_project_admin", "_project_viewer", "alpha", "zeta"]
    )


async def test_deleting_a_used_role_needs_cascade(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="viewer", permissions=["core_project_view"])
        )
    )
    await bind(authz, "a/o", "b", user("alice"), "viewer", "_all_organization_level_resources", "a")
    assert await authz.check("alice", "a/o", "PROJECT", "p", "core_project_view")
    error = await rpc_error(
        authz.roles.DeleteRole(pb.DeleteRequest(scope="a", identifier="viewer"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "a/o/b" in (error.details() or "")
    assert await authz.check("alice", "a/o", "PROJECT", "p", "core_project_view")
    await authz.roles.DeleteRole(pb.DeleteRequest(scope="a", identifier="viewer", cascade=True))
    assert not await authz.check("alice", "a/o", "PROJECT", "p", "core_project_view")
    error = await rpc_error(
        authz.bindings.GetRoleBinding(pb.GetRequest(scope="a/o", identifier="b"))
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_deleting_a_used_group_or_user_needs_cascade(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["alice"])
        )
    )
    await bind(
        authz, "a/o/p", "b", group("devs", "a"), "_project_viewer", "_all_project_level_resources"
    )
    error = await rpc_error(authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="alice")))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = await rpc_error(
        authz.groups.DeleteUserGroup(pb.DeleteRequest(scope="a", identifier="devs"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    await authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="alice", cascade=True))
    devs = await authz.groups.GetUserGroup(pb.GetRequest(scope="a", identifier="devs"))
    assert list(devs.user_group.members) == []


async def test_resource_group_update_recompiles_its_bindings(authz: Authz) -> None:
    await create_user(authz, "a", "alice")
    created = await authz.resource_groups.CreateResourceGroup(
        pb.CreateResourceGroupRequest(
            resource_group=pb.ResourceGroup(
                scope="a/o/p", identifier="secrets",
                resource_filters=[pb.ResourceFilter(resource_type="SECRET", identifiers=["db"])],
            )
        )
    )  # fmt: skip
    await bind(authz, "a/o/p", "b", user("alice"), "_project_admin", "secrets")
    assert await authz.check("alice", "a/o/p", "SECRET", "db", "core_secret_access")
    assert not await authz.check("alice", "a/o/p", "SECRET", "api", "core_secret_access")
    widened = created.resource_group
    del widened.resource_filters[:]
    widened.resource_filters.append(pb.ResourceFilter(resource_type="SECRET"))
    await authz.resource_groups.UpdateResourceGroup(widened)
    assert await authz.check("alice", "a/o/p", "SECRET", "api", "core_secret_access")
    assert await authz.check("alice", "a/o/p", "SECRET", "", "core_secret_access")


async def test_permission_registry_extends_what_roles_may_hold(authz: Authz) -> None:
    role = pb.Role(scope="a", identifier="flags", permissions=["core_featureflag_toggle"])
    error = await rpc_error(authz.roles.CreateRole(pb.CreateRoleRequest(role=role)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    # An account administrator may not change the global registry; the platform operator may.
    error = await rpc_error(
        authz.permissions.CreatePermission(
            pb.CreatePermissionRequest(permission=pb.Permission(name="core_featureflag_toggle"))
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    op = await operator(authz.server)
    await op.permissions.CreatePermission(
        pb.CreatePermissionRequest(permission=pb.Permission(name="core_featureflag_toggle"))
    )
    await authz.roles.CreateRole(pb.CreateRoleRequest(role=role))
    listed = await authz.permissions.ListPermissions(pb.ListRequest(page_size=1000))
    names = {p.name for p in listed.permissions}
    assert {"core_featureflag_toggle", "core_pipeline_view"} <= names
    error = await rpc_error(
        op.permissions.DeletePermission(pb.DeleteRequest(identifier="core_featureflag_toggle"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    error = await rpc_error(
        op.permissions.DeletePermission(pb.DeleteRequest(identifier="core_pipeline_view"))
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    await op.channel.close(None)
