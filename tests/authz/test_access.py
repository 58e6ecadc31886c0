"""Check, BatchCheck, Explain, ListEffectivePermissions, revisions across replicas, health,
reflection and graceful shutdown, through gRPC against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import (
    Authz,
    admin_token,
    bind,
    connect,
    create_user,
    group,
    operator,
    settings_for,
    user,
    user_token,
)

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


def answer_of(
    response: pb.CheckResponse | None, error: grpc.aio.AioRpcError | None
) -> tuple[bool, int, str]:
    """What Check says about one item, in BatchCheck's terms: (allowed, code, field)."""
    if error is None:
        assert response is not None
        return (response.allowed, 0, "")
    field = (error.details() or "").split(":", 1)[0]
    if error.code() == grpc.StatusCode.PERMISSION_DENIED:
        field = "principal"
    return (False, error.code().value[0], field)


async def test_batch_check_answers_every_item_as_check_does(authz: Authz) -> None:
    """BatchCheck shares work between items (one subject per principal and scope, validated
    identifiers, a response built from bytes): over a grid of valid and invalid fields, in
    order and shuffled with repeats, each answer must be what Check answers alone."""
    await viewer_setup(authz)
    await create_user(authz, "a", "bob")
    principals = [
        user("alice"),
        user("bob"),
        user("b@d"),
        group("devs", "a"),
        pb.Principal(type=pb.PRINCIPAL_TYPE_UNSPECIFIED, identifier="alice"),
    ]
    grid = [
        pb.CheckRequest(
            principal=principal,
            resource_scope=scope,
            resource_type=rtype,
            resource_identifier=rid,
            permission=permission,
        )
        for principal in principals
        for scope in ("a/o/p", "a/o/q", "a/o/p/x", "b/o/p")
        for rtype in ("PIPELINE", "NOPE")
        for rid in ("", "x", "b d")
        for permission in ("core_pipeline_view", "core_pipeline_fly", "core_pipeline_execute")
    ]
    expected: dict[bytes, tuple[bool, int, str]] = {}
    for request in grid:
        try:
            expected[request.SerializeToString()] = answer_of(
                await authz.access.Check(request), None
            )
        except grpc.aio.AioRpcError as exc:
            expected[request.SerializeToString()] = answer_of(None, exc)
    assert {code for _, code, _ in expected.values()} >= {0, 3}  # the grid has both
    shuffled = random.Random(7).choices(grid, k=1000)
    for items in (grid, shuffled):
        response = await authz.access.BatchCheck(pb.BatchCheckRequest(items=items))
        got = [
            (r.allowed, r.error.code, r.error.field if r.HasField("error") else "")
            for r in response.results
        ]
        assert got == [expected[i.SerializeToString()] for i in items]


async def test_batch_check_forgets_remembered_items_when_the_catalog_changes(
    authz: Authz,
) -> None:
    """An item once valid is remembered by its bytes; a deleted permission must not stay valid."""
    await viewer_setup(authz)
    ops = await operator(authz.server)
    created = await ops.permissions.CreatePermission(
        pb.CreatePermissionRequest(permission=pb.Permission(name="core_flag_toggle"))
    )
    flag = pb.CheckRequest(
        principal=user("alice"),
        resource_scope="a/o/p",
        resource_type="FLAG",
        resource_identifier="x",
        permission="core_flag_toggle",
    )
    before = await authz.access.BatchCheck(
        pb.BatchCheckRequest(items=[flag, flag], at_least_revision=created.revision)
    )
    assert [r.HasField("error") for r in before.results] == [False, False]
    deleted = await ops.permissions.DeletePermission(
        pb.DeleteRequest(identifier="core_flag_toggle")
    )
    after = await authz.access.BatchCheck(
        pb.BatchCheckRequest(items=[flag], at_least_revision=deleted.revision)
    )
    assert after.results[0].error.field in ("permission", "resource_type")
    assert after.results[0].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def raw_batch_check(authz: Authz, items: list[bytes]) -> bytes:
    """BatchCheck with the items' bytes as given, answered as bytes (no (de)serializer)."""
    call = authz.channel.unary_unary("/authz.v1.AccessService/BatchCheck", None, None)
    request = b"".join(b"\x0a" + bytes([len(i)]) + i for i in items)  # items under 128 bytes
    reply: bytes = await call(request)
    return reply


async def test_batch_check_sends_the_bytes_of_the_message_it_answers(authz: Authz) -> None:
    """The response is joined from pre-serialized results and handed to gRPC as is: it must be
    byte for byte the serialization of the message it stands for (what the generated serializer
    sent), for allowed, denied, invalid and refused items, new and remembered, in every encoding
    of an item."""
    await viewer_setup(authz)
    await create_user(authz, "a", "carol")
    carol = await connect(authz.server, await user_token(authz.server, "a", "carol"))
    view, execute, fly = (
        item("x", p) for p in ("core_pipeline_view", "core_pipeline_execute", "core_pipeline_fly")
    )
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await authz.access.Check(fly)
    # The same item with its fields written in reverse order: other bytes, the same question.
    reversed_view = b"".join(
        pb.CheckRequest(**{f.name: v}).SerializeToString() for f, v in reversed(view.ListFields())
    )
    assert reversed_view != view.SerializeToString()
    admin_items = [view, execute, fly]
    expected_admin = [
        pb.BatchCheckResult(allowed=True),
        pb.BatchCheckResult(allowed=False),
        pb.BatchCheckResult(
            error=pb.ItemError(
                code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                message=invalid.value.details() or "",
                field="permission",
            )
        ),
        pb.BatchCheckResult(allowed=True),
    ]
    about_herself = pb.CheckRequest()
    about_herself.CopyFrom(view)
    about_herself.principal.identifier = "carol"
    expected_carol = [
        pb.BatchCheckResult(allowed=False),
        pb.BatchCheckResult(
            error=pb.ItemError(
                code=grpc.StatusCode.PERMISSION_DENIED.value[0],
                message="the caller lacks core_access_check",
                field="principal",
            )
        ),
    ]
    for _ in range(2):  # new, then remembered
        answer = await raw_batch_check(
            authz, [*(i.SerializeToString() for i in admin_items), reversed_view]
        )
        response = pb.BatchCheckResponse.FromString(answer)
        assert list(response.results) == expected_admin
        assert response.revision > 0
        assert response.SerializeToString() == answer
        answer = await raw_batch_check(carol, [about_herself.SerializeToString(), reversed_view])
        response = pb.BatchCheckResponse.FromString(answer)
        assert list(response.results) == expected_carol
        assert response.SerializeToString() == answer
    await carol.channel.close(None)


async def test_batch_check_remembered_answers_follow_the_policy(authz: Authz) -> None:
    """Answers are remembered by the items' bytes: every change of the policy that alters a
    decision must reach the next batch of the same bytes."""
    await viewer_setup(authz)
    await create_user(authz, "a", "bob")
    view = item("x", "core_pipeline_view")
    bob = pb.CheckRequest()
    bob.CopyFrom(view)
    bob.principal.identifier = "bob"
    batch = pb.BatchCheckRequest(items=[view, bob, view])

    async def answers(revision: int) -> list[bool]:
        batch.at_least_revision = revision
        response = await authz.access.BatchCheck(batch)
        assert not any(r.HasField("error") for r in response.results)
        return [r.allowed for r in response.results]

    assert await answers(0) == [True, False, True]
    grouped = await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="devs", members=["bob"])
        )
    )
    assert await answers(grouped.revision) == [True, False, True]
    bound = await bind(
        authz, "a/o/p", "b2", group("devs", "a"), "_project_viewer", "_all_project_level_resources"
    )
    assert await answers(bound.revision) == [True, True, True]
    left = await authz.groups.RemoveMember(
        pb.MemberRequest(scope="a", identifier="devs", user="bob")
    )
    assert await answers(left.revision) == [True, False, True]
    unbound = await authz.bindings.DeleteRoleBinding(
        pb.DeleteRequest(scope="a/o/p", identifier="b1")
    )
    assert await answers(unbound.revision) == [False, False, False]


async def test_remembered_answers_give_another_account_nothing(authz: Authz) -> None:
    """An answer remembered from one caller's batch is shared by the replica; another caller
    sending the same bytes is still checked for core_access_check, also from an account whose
    name only looks alike."""
    accounts = ("acme_corp", "acmeXcorp")
    admins = [await connect(authz.server, await admin_token(authz.server, a)) for a in accounts]
    owner, other = admins
    await create_user(owner, "acme_corp", "alice")
    await bind(
        owner,
        "acme_corp",
        "b1",
        user("alice"),
        "_account_viewer",
        "_all_resources_including_child_scopes",
    )
    about_alice = pb.CheckRequest(
        principal=user("alice"),
        resource_scope="acme_corp",
        resource_type="PROJECT",
        resource_identifier="p",
        permission="core_project_view",
    )
    batch = pb.BatchCheckRequest(items=[about_alice] * 3)
    for _ in range(2):  # the second time, from the remembered answers
        mine = await owner.access.BatchCheck(batch)
        assert [r.allowed for r in mine.results] == [True] * 3
        theirs = await other.access.BatchCheck(batch)
        assert [(r.allowed, r.error.code) for r in theirs.results] == [
            (False, grpc.StatusCode.PERMISSION_DENIED.value[0])
        ] * 3
    for client in admins:
        await client.channel.close(None)


async def test_the_right_to_ask_about_others_follows_the_policy(authz: Authz) -> None:
    """Whether a caller may ask about others at a scope is remembered between batches too: a
    grant or revocation of core_access_check must reach the next batch."""
    await viewer_setup(authz)
    await create_user(authz, "a", "carol")
    carol = await connect(authz.server, await user_token(authz.server, "a", "carol"))
    batch = pb.BatchCheckRequest(items=[item("x", "core_pipeline_view")] * 2)

    async def carol_asks(revision: int) -> list[tuple[bool, int]]:
        batch.at_least_revision = revision
        response = await carol.access.BatchCheck(batch)
        return [(r.allowed, r.error.code) for r in response.results]

    refused = [(False, grpc.StatusCode.PERMISSION_DENIED.value[0])] * 2
    assert await carol_asks(0) == refused
    assert await carol_asks(0) == refused
    granted = await bind(
        authz,
        "a",
        "carol-admin",
        user("carol"),
        "_account_admin",
        "_all_resources_including_child_scopes",
    )
    assert await carol_asks(granted.revision) == [(True, 0)] * 2
    revoked = await authz.bindings.DeleteRoleBinding(
        pb.DeleteRequest(scope="a", identifier="carol-admin")
    )
    assert await carol_asks(revoked.revision) == refused
    await carol.channel.close(None)


async def test_batch_check_counts_each_outcome_once_per_item(authz: Authz) -> None:
    """authz_decisions_total{rpc="BatchCheck"}: allowed, denied and error (invalid or not
    permitted) items, whether answered anew or from what was remembered."""
    await viewer_setup(authz)
    await create_user(authz, "a", "carol")
    carol = await connect(authz.server, await user_token(authz.server, "a", "carol"))
    about_alice = [item("x", p) for p in ("core_pipeline_view", "core_pipeline_execute")]
    invalid = item("x", "core_pipeline_fly")
    about_herself = item("x", "core_pipeline_view")
    about_herself.principal.identifier = "carol"

    def counted() -> dict[str, float]:
        return {
            outcome: REGISTRY.get_sample_value(
                "authz_decisions_total", {"rpc": "BatchCheck", "outcome": outcome}
            )
            or 0.0
            for outcome in ("allowed", "denied", "error")
        }

    for _ in range(2):  # new, then remembered
        before = counted()
        await authz.access.BatchCheck(
            pb.BatchCheckRequest(items=[*about_alice, invalid, *about_alice])
        )
        await carol.access.BatchCheck(
            pb.BatchCheckRequest(items=[about_herself, *about_alice, invalid])
        )
        after = counted()
        assert {k: after[k] - before[k] for k in after} == {
            "allowed": 2,  # the admin's two view items
            "denied": 3,  # the admin's two execute items, carol about herself
            "error": 4,  # one invalid each, carol's two about alice
        }
    await carol.channel.close(None)


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
