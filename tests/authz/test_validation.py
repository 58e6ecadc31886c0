"""Bad input answers INVALID_ARGUMENT naming the field, and writes nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.access import Access
from services.authz.domain.errors import InvalidArgument
from services.authz.grpc_api.access_servicer import principal_of
from services.authz.policy_state import PolicyState
from tests.authz.clients import Authz, create_user, user


def check(**overrides: Any) -> pb.CheckRequest:
    fields: dict[str, Any] = {
        "principal": user("alice"),
        "resource_scope": "a/o/p",
        "resource_type": "PIPELINE",
        "resource_identifier": "x",
        "permission": "core_pipeline_view",
    }
    return pb.CheckRequest(**{**fields, **overrides})


CHECK_CASES = [
    (check(resource_scope="a/o/p/extra"), "resource_scope"),
    (check(resource_scope=""), "resource_scope"),
    (check(resource_scope="a/9bad"), "resource_scope"),
    (check(resource_type="SPACESHIP"), "resource_type"),
    (check(permission="core_pipeline_fly"), "permission"),
    (check(resource_identifier="not an id"), "resource_identifier"),
    (check(principal=pb.Principal(identifier="alice")), "principal.type"),
    (
        check(principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="")),
        "principal.identifier",
    ),
    (
        check(principal=pb.Principal(type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier="g", scope="b")),
        "principal.scope",
    ),
]


@pytest.mark.parametrize(("request_", "field"), CHECK_CASES)
def test_check_names_the_bad_field(request_: pb.CheckRequest, field: str) -> None:
    """No server needed: the servicer's conversion and the domain's check, as Check runs them
    (the status code of InvalidArgument is the error mapping's, tested on its own)."""
    access = Access(PolicyState())
    with pytest.raises(InvalidArgument) as info:
        access.request(
            principal_of(request_.principal),
            request_.resource_scope,
            request_.resource_type,
            request_.resource_identifier,
            request_.permission,
        )
    assert info.value.field == field


@pytest.mark.integration
async def test_check_answers_invalid_argument_naming_the_field(authz: Authz) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await authz.access.Check(check(resource_scope="a/o/p/extra"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith("resource_scope:")


def role(**overrides: Any) -> pb.CreateRoleRequest:
    fields: dict[str, Any] = {
        "scope": "a",
        "identifier": "r",
        "permissions": ["core_pipeline_view"],
    }
    return pb.CreateRoleRequest(role=pb.Role(**{**fields, **overrides}))


def resource_group(**overrides: Any) -> pb.CreateResourceGroupRequest:
    fields: dict[str, Any] = {"scope": "a/o", "identifier": "g", "include_all_resources": True}
    return pb.CreateResourceGroupRequest(resource_group=pb.ResourceGroup(**{**fields, **overrides}))


WRITE_CASES = [
    ("roles", "CreateRole", role(identifier="_mine"), "role.identifier"),
    ("roles", "CreateRole", role(identifier="1abc"), "role.identifier"),
    ("roles", "CreateRole", role(scope="a//b"), "role.scope"),
    ("roles", "CreateRole", role(permissions=["core_pipeline_fly"]), "role.permissions"),
    ("roles", "CreateRole", role(name="n" * 300), "role.name"),
    ("resource_groups", "CreateResourceGroup", resource_group(included_scopes=["a/x"]),
     "resource_group.included_scopes"),
    ("resource_groups", "CreateResourceGroup", resource_group(include_all_resources=False),
     "resource_group.resource_filters"),
    ("resource_groups", "CreateResourceGroup",
     resource_group(include_all_resources=False,
                    resource_filters=[pb.ResourceFilter(resource_type="SPACESHIP")]),
     "resource_group.resource_filters.resource_type"),
    ("users", "CreateUser", pb.CreateUserRequest(user=pb.User(account="a/o", identifier="u")),
     "user.account"),
    ("users", "CreateUser",
     pb.CreateUserRequest(user=pb.User(account="a", identifier="u", email="nope")), "user.email"),
    ("users", "ListUsers", pb.ListRequest(scope="a", page_size=1001), "page_size"),
    ("users", "ListUsers", pb.ListRequest(scope="a", page_size=-1), "page_size"),
    ("users", "ListUsers", pb.ListRequest(scope="a", page_token="%%%"), "page_token"),
    ("users", "GetUser", pb.GetRequest(scope="", identifier="u"), "scope"),
    ("permissions", "CreatePermission",
     pb.CreatePermissionRequest(permission=pb.Permission(name="Core-Bad")), "permission.name"),
    ("bindings", "CreateRoleBinding",
     pb.CreateRoleBindingRequest(role_binding=pb.RoleBinding(
         scope="a/o", identifier="b", principal=user("alice"), role="r", resource_group="g",
         role_scope="b")), "role_binding.role_scope"),
]  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize(("stub", "method", "request_", "field"), WRITE_CASES)
async def test_writes_name_the_bad_field_and_write_nothing(
    authz: Authz, stub: str, method: str, request_: Any, field: str
) -> None:
    revision_before = authz.server.state.revision
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await getattr(getattr(authz, stub), method)(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(f"{field}:"), info.value.details()
    assert authz.server.state.revision == revision_before


@pytest.mark.integration
async def test_a_page_token_of_another_listing_is_refused(authz: Authz) -> None:
    for i in range(3):
        await create_user(authz, "a", f"u{i}")
    page = await authz.users.ListUsers(pb.ListRequest(scope="a", page_size=1))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await authz.users.ListUsers(pb.ListRequest(scope="b", page_token=page.next_page_token))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.integration
async def test_a_failed_write_leaves_nothing_half_written(authz: Authz) -> None:
    # The binding names a user that does not exist: NOT_FOUND, and neither the binding nor any
    # policy line nor a revision is left behind.
    revision_before = authz.server.state.revision
    lines_before = len(authz.server.state.index)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await authz.bindings.CreateRoleBinding(
            pb.CreateRoleBindingRequest(
                role_binding=pb.RoleBinding(
                    scope="a/o/p", identifier="b", principal=user("ghost"),
                    role="_project_viewer", resource_group="_all_project_level_resources",
                )
            )
        )  # fmt: skip
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert authz.server.state.revision == revision_before
    assert len(authz.server.state.index) == lines_before
    listed = await authz.bindings.ListRoleBindings(pb.ListRequest(scope="a/o/p"))
    assert list(listed.role_bindings) == []
