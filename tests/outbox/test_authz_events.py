"""Every mutating authz RPC emits exactly one audit event, published through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from libs.events import codec
from services.authz.server import running_server
from tests.authz.clients import Authz, connect, operator, settings_for, user
from tests.harness.services import read_topic

pytestmark = pytest.mark.integration

CALLER = (
    ("x-request-id", "req-42"),
    ("x-forwarded-for", "10.1.2.3"),
)


@pytest.fixture
async def authz_relay(database_url: str, kafka_bootstrap: str, topic: str) -> AsyncIterator[Authz]:
    settings = settings_for(
        database_url,
        run_relay=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        audit_topic=topic,
        trusted_proxies="127.0.0.1",  # the test client stands for a proxy: x-forwarded-for counts
    )
    async with running_server(settings) as server:
        client = await connect(server)
        try:
            yield client
        finally:
            await client.channel.close(None)


async def fails(call: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await call


async def test_each_mutating_rpc_emits_one_event(
    authz_relay: Authz, kafka_bootstrap: str, topic: str
) -> None:
    a = authz_relay
    md = CALLER
    expected: list[tuple[int, str, str, str]] = []  # (action, resource type, identifier, scope)

    def want(action: int, rtype: str, identifier: str, scope: str) -> None:
        expected.append((action, rtype, identifier, scope))

    alice = (
        await a.users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account="a", identifier="alice")), metadata=md
        )
    ).user
    want(ev.ACTION_CREATE, "USER", "alice", "a")
    await fails(
        a.users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account="a", identifier="alice")), metadata=md
        )
    )
    alice.display_name = "Alice"
    await a.users.UpdateUser(alice, metadata=md)
    want(ev.ACTION_UPDATE, "USER", "alice", "a")
    await a.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a/o", identifier="devs")),
        metadata=md,
    )
    want(ev.ACTION_CREATE, "USER_GROUP", "devs", "a/o")
    await a.groups.AddMember(
        pb.MemberRequest(scope="a/o", identifier="devs", user="alice"), metadata=md
    )
    want(ev.ACTION_ADD_MEMBER, "USER_GROUP", "devs", "a/o")
    await a.groups.RemoveMember(
        pb.MemberRequest(scope="a/o", identifier="devs", user="alice"), metadata=md
    )
    want(ev.ACTION_REMOVE_MEMBER, "USER_GROUP", "devs", "a/o")
    await a.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(
            service_account=pb.ServiceAccount(scope="a/o/p", identifier="ci")
        ),
        metadata=md,
    )
    want(ev.ACTION_CREATE, "SERVICE_ACCOUNT", "ci", "a/o/p")
    role = (
        await a.roles.CreateRole(
            pb.CreateRoleRequest(
                request_id="r1",
                role=pb.Role(scope="a/o", identifier="viewer", permissions=["core_project_view"]),
            ),
            metadata=md,
        )
    ).role
    want(ev.ACTION_CREATE, "ROLE", "viewer", "a/o")
    await a.roles.CreateRole(
        pb.CreateRoleRequest(request_id="r1", role=role), metadata=md
    )  # replay
    role.permissions.append("core_pipeline_view")
    await a.roles.UpdateRole(role, metadata=md)
    want(ev.ACTION_UPDATE, "ROLE", "viewer", "a/o")
    group = (
        await a.resource_groups.CreateResourceGroup(
            pb.CreateResourceGroupRequest(
                resource_group=pb.ResourceGroup(
                    scope="a/o", identifier="all", include_all_resources=True
                )
            ),
            metadata=md,
        )
    ).resource_group
    want(ev.ACTION_CREATE, "RESOURCE_GROUP", "all", "a/o")
    group.include_child_scopes = True
    await a.resource_groups.UpdateResourceGroup(group, metadata=md)
    want(ev.ACTION_UPDATE, "RESOURCE_GROUP", "all", "a/o")
    binding = (
        await a.bindings.CreateRoleBinding(
            pb.CreateRoleBindingRequest(
                role_binding=pb.RoleBinding(
                    scope="a/o",
                    identifier="b1",
                    principal=user("alice"),
                    role="viewer",
                    resource_group="all",
                )
            ),
            metadata=md,
        )
    ).role_binding
    want(ev.ACTION_ROLE_ASSIGNMENT_CREATE, "ROLE_BINDING", "b1", "a/o")
    binding.disabled = True
    await a.bindings.UpdateRoleBinding(binding, metadata=md)
    want(ev.ACTION_ROLE_ASSIGNMENT_UPDATE, "ROLE_BINDING", "b1", "a/o")
    await fails(a.roles.DeleteRole(pb.DeleteRequest(scope="a/o", identifier="viewer"), metadata=md))
    await a.bindings.DeleteRoleBinding(pb.DeleteRequest(scope="a/o", identifier="b1"), metadata=md)
    want(ev.ACTION_ROLE_ASSIGNMENT_DELETE, "ROLE_BINDING", "b1", "a/o")
    await a.roles.DeleteRole(pb.DeleteRequest(scope="a/o", identifier="viewer"), metadata=md)
    want(ev.ACTION_DELETE, "ROLE", "viewer", "a/o")
    await a.resource_groups.DeleteResourceGroup(
        pb.DeleteRequest(scope="a/o", identifier="all"), metadata=md
    )
    want(ev.ACTION_DELETE, "RESOURCE_GROUP", "all", "a/o")
    sa = (
        await a.service_accounts.GetServiceAccount(pb.GetRequest(scope="a/o/p", identifier="ci"))
    ).service_account
    sa.name = "CI bot"
    await a.service_accounts.UpdateServiceAccount(sa, metadata=md)
    want(ev.ACTION_UPDATE, "SERVICE_ACCOUNT", "ci", "a/o/p")
    await a.service_accounts.DeleteServiceAccount(
        pb.DeleteRequest(scope="a/o/p", identifier="ci"), metadata=md
    )
    want(ev.ACTION_DELETE, "SERVICE_ACCOUNT", "ci", "a/o/p")
    await a.groups.DeleteUserGroup(pb.DeleteRequest(scope="a/o", identifier="devs"), metadata=md)
    want(ev.ACTION_DELETE, "USER_GROUP", "devs", "a/o")
    await a.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="alice"), metadata=md)
    want(ev.ACTION_DELETE, "USER", "alice", "a")
    # The global registry is the platform operator's (bootstrap-operator: 4 SYSTEM events).
    op = await operator(a.server)
    permission = (
        await op.permissions.CreatePermission(
            pb.CreatePermissionRequest(permission=pb.Permission(name="core_flag_toggle")),
            metadata=md,
        )
    ).permission
    want(ev.ACTION_CREATE, "PERMISSION", "core_flag_toggle", "_global")
    permission.description = "toggle a flag"
    await op.permissions.UpdatePermission(permission, metadata=md)
    want(ev.ACTION_UPDATE, "PERMISSION", "core_flag_toggle", "_global")
    await op.permissions.DeletePermission(
        pb.DeleteRequest(identifier="core_flag_toggle"), metadata=md
    )
    await op.channel.close(None)
    want(ev.ACTION_DELETE, "PERMISSION", "core_flag_toggle", "_global")

    # The fixture's bootstrap (admin user, binding, API key) wrote 3 events as SYSTEM first.
    everything = await read_topic(kafka_bootstrap, topic, len(expected) + 3 + 4)
    system = [
        r for r in everything if codec.decode(r.value).principal.type == ev.PRINCIPAL_TYPE_SYSTEM
    ]
    assert len(system) == 3 + 4
    records = [r for r in everything if r not in system]
    events = [codec.decode(r.value) for r in records]
    assert len(events) == len(expected), [e.resource.identifier for e in events]
    # One partition per account key: compare in order within each key.
    for key in {r.key for r in records}:
        got = [
            (e.action, e.resource.type, e.resource.identifier, scope_path(e))
            for r, e in zip(records, events, strict=True)
            if r.key == key
        ]
        assert got == [x for x in expected if x[3].split("/")[0].encode() == key]
    revisions = [e.policy_revision for e in events if e.scope.account == "a"]
    assert revisions == sorted(revisions)
    assert len(set(revisions)) == len(revisions)
    for e in events:
        assert e.principal.type == ev.PRINCIPAL_TYPE_USER
        global_change = e.scope.account == "_global"
        assert e.principal.identifier == ("operator" if global_change else "admin")
        assert e.request.request_id == "req-42"
        assert e.request.client_ip == "10.1.2.3"
        assert e.module == "authz"
        assert e.schema_version == 1
        assert e.occurred_at.seconds > 0
    update = next(e for e in events if e.action == ev.ACTION_UPDATE and e.resource.type == "ROLE")
    assert '"core_pipeline_view"' not in update.old_state_json
    assert '"core_pipeline_view"' in update.new_state_json
    create = next(e for e in events if e.action == ev.ACTION_CREATE and e.resource.type == "USER")
    assert create.old_state_json == ""
    assert '"alice"' in create.new_state_json
    delete = next(e for e in events if e.action == ev.ACTION_DELETE and e.resource.type == "USER")
    assert delete.new_state_json == ""


def scope_path(e: ev.AuditEvent) -> str:
    return "/".join(p for p in (e.scope.account, e.scope.organization, e.scope.project) if p)
