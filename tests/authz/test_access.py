"""Check, BatchCheck, Explain, ListEffectivePermissions, revisions across replicas, health,
reflection and graceful shutdown, through gRPC against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import Authz, bind, connect, create_user, group, settings_for, user

pytestmark = pytest.mark.integration


def item(identifier: str, permission: str, scope: str = "a/o/p") -> pb.CheckRequest:
    return pb.CheckRequest(
        principal=user("alice"),
        resource_scope=scope,
        resource_type="PIPELINE",
        resource_identifier=identifier,
        permission=permission,
    )


async def viewer_setup(authz: Authz) -> pb.RoleBindingResponse:
    await create_user(authz, "a", "alice")
    return await bind(
        authz, "a/o/p", "b1", user("alice"), "_project_viewer", "_all_project_level_resources"
    )


async def test_batch_check_answers_in_order_with_per_item_errors(authz: Authz) -> None:
    await viewer_setup(authz)
    response = await authz.access.BatchCheck(
        pb.BatchCheckRequest(
            items=[
                item("x", "core_pipeline_view"),
                item("x", "core_pipeline_fly"),
                item("x", "core_pipeline_execute"),
                item("x", "core_pipeline_view", scope="a/o/q"),
            ]
        )
    )
    assert [r.allowed for r in response.results] == [True, False, False, False]
    assert response.results[1].error.field == "permission"
    assert response.results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not response.results[0].HasField("error")


async def test_batch_check_size_bounds(authz: Authz) -> None:
    for size in (0, 1001):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await authz.access.BatchCheck(
                pb.BatchCheckRequest(items=[item("x", "core_pipeline_view")] * size)
            )
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith("items:")


async def test_explain_names_binding_role_group_and_via_group(authz: Authz) -> None:
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
    explained = await authz.access.Explain(item("x", "core_pipeline_execute"))
    assert explained.allowed
    [grant] = explained.grants
    assert grant.role_binding == "a/o/p/b2"
    assert grant.role == "_pipeline_executor"
    assert grant.resource_group == "_all_project_level_resources"
    assert grant.via_group == "a/devs"
    assert grant.scope == "a/o/p"
    assert not grant.include_child_scopes

    denied = await authz.access.Explain(item("x", "core_pipeline_delete"))
    assert not denied.allowed
    assert not denied.grants
    assert "do not grant core_pipeline_delete" in denied.reason
    elsewhere = await authz.access.Explain(item("x", "core_pipeline_view", scope="a/o/q"))
    assert "no enabled role binding" in elsewhere.reason


async def test_effective_permissions(authz: Authz) -> None:
    await viewer_setup(authz)
    response = await authz.access.ListEffectivePermissions(
        pb.ListEffectivePermissionsRequest(principal=user("alice"), scope="a/o/p")
    )
    assert "core_pipeline_view" in response.permissions
    assert "core_pipeline_execute" not in response.permissions
    assert all(p.endswith("_view") for p in response.permissions)
    elsewhere = await authz.access.ListEffectivePermissions(
        pb.ListEffectivePermissionsRequest(principal=user("alice"), scope="a/o/q")
    )
    assert list(elsewhere.permissions) == []


async def test_a_write_is_seen_by_a_second_replica_at_its_revision(
    authz: Authz, database_url: str
) -> None:
    async with running_server(settings_for(database_url)) as second_server:
        second = await connect(second_server)
        try:
            written = await viewer_setup(authz)
            response = await second.access.Check(
                pb.CheckRequest(
                    principal=user("alice"),
                    resource_scope="a/o/p",
                    resource_type="PIPELINE",
                    resource_identifier="x",
                    permission="core_pipeline_view",
                    at_least_revision=written.revision,
                ),
                timeout=5,
            )
            assert response.allowed
            assert response.revision >= written.revision
        finally:
            await second.channel.close(None)


async def test_a_revision_not_reached_fails_within_the_deadline(authz: Authz) -> None:
    future = authz.server.state.revision + 100
    request = item("x", "core_pipeline_view")
    request.at_least_revision = future
    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await authz.access.Check(request, timeout=1.0)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 3


async def test_health_and_reflection(authz: Authz) -> None:
    health = health_pb2_grpc.HealthStub(authz.channel)
    for service in ("", "authz.v1.AccessService", "authz.v1.RoleBindingService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    stub = reflection_pb2_grpc.ServerReflectionStub(authz.channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for response in responses:
        names = {s.name for s in response.list_services_response.service}
    assert {"authz.v1.AccessService", "authz.v1.UserService", "grpc.health.v1.Health"} <= names


async def test_shutdown_lets_in_flight_calls_finish(authz: Authz, database_url: str) -> None:
    async with running_server(settings_for(database_url)) as stopping_server:
        stopping = await connect(stopping_server)
        request = item("x", "core_pipeline_view")
        request.at_least_revision = stopping_server.state.revision + 1  # waits for the next write
        in_flight = asyncio.ensure_future(stopping.access.Check(request, timeout=10))
        await asyncio.sleep(0.3)
        stop = asyncio.ensure_future(stopping_server.server.stop(5))
        await asyncio.sleep(0.2)
        with pytest.raises(grpc.aio.AioRpcError) as refused:  # no new calls while draining
            await stopping.access.Check(item("x", "core_pipeline_view"), timeout=2)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        written = await create_user(authz, "a", "late")  # through the other replica
        answered = await in_flight
        assert answered.revision >= written.revision
        await stop
        await stopping.channel.close(None)
