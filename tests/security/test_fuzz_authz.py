"""Fuzzing every RPC of authz with hypothesis-generated messages (NUL and control characters,
huge lists, extreme numbers and timestamps, unknown enum values), as an account administrator
so that requests get past authorization: no answer is ever INTERNAL or UNKNOWN."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
import pytest
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authz.v1 import authz_pb2 as pb
from authz.v1 import governance_pb2 as gpb
from authz.v1 import governance_pb2_grpc as gpb_grpc
from authz.v1 import invitations_pb2 as ipb
from services.authz.server import running_server
from tests.authz.clients import Authz, admin_token, bind, connect, create_user, settings_for, user
from tests.security.proto_strategies import build, messages, mutations

pytestmark = pytest.mark.integration

METHODS = [
    (service.full_name, method)
    for proto_file in (pb.DESCRIPTOR, ipb.DESCRIPTOR, gpb.DESCRIPTOR)
    for service in proto_file.services_by_name.values()
    for method in service.methods
]
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def fuzz_method(port: int, token: str, service: str, method: object) -> list[str]:
    """Run hypothesis against one RPC from this (non-event-loop) thread; the found failures."""
    request_class = GetMessageClass(method.input_type)  # type: ignore[attr-defined]
    path = f"/{service}/{method.name}"  # type: ignore[attr-defined]
    failures: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(
            path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=None
        )

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.one_of(mutations(method.input_type), messages(method.input_type)))  # type: ignore[attr-defined]
        def one(values: dict[str, object]) -> None:
            request = build(request_class, values)
            try:
                call(request, metadata=(("authorization", f"Bearer {token}"),), timeout=60)
            except grpc.RpcError as error:
                code = error.code()
                hung = code == grpc.StatusCode.DEADLINE_EXCEEDED and (
                    "not visible yet" not in (error.details() or "")
                )  # a revision far ahead is refused by design; anything else timing out hung
                if code in NEVER or hung:
                    failures.append(f"{path} {code} {error.details()}: {request}"[:2000])
                    raise AssertionError(failures[-1]) from None

        with contextlib.suppress(AssertionError):  # hypothesis shrank it: in `failures`
            one()
    return failures


async def populate(admin: Authz) -> None:
    """One entity of each kind named `alice` in account `a`: what the seeds name, so that
    mutated updates, deletes and reads reach the store."""
    await create_user(admin, "a", "alice")
    await admin.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope="a", identifier="alice", members=["alice"])
        )
    )
    await admin.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(
            service_account=pb.ServiceAccount(scope="a", identifier="alice")
        )
    )
    await admin.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="alice", permissions=["core_pipeline_view"])
        )
    )
    await admin.resource_groups.CreateResourceGroup(
        pb.CreateResourceGroupRequest(
            resource_group=pb.ResourceGroup(
                scope="a", identifier="alice", include_all_resources=True
            )
        )
    )
    await bind(admin, "a", "alice", user("alice"), "alice", "alice")
    owner = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="alice")
    await admin.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope="a", identifier="alice", owner=owner))
    )
    governance = gpb_grpc.GovernanceServiceStub(admin.channel)
    rego = 'package p\n\ndeny contains "no" if { input.after.name == "no" }\n'
    await governance.CreateGovernancePolicy(
        gpb.CreateGovernancePolicyRequest(
            policy=gpb.GovernancePolicy(scope="a", identifier="alice", rego=rego)
        )
    )
    await governance.CreatePolicySet(
        gpb.CreatePolicySetRequest(
            policy_set=gpb.PolicySet(
                scope="a",
                identifier="alice",
                entity_types=["role"],
                events=[gpb.GOVERNANCE_EVENT_ON_SAVE],
                severity=gpb.SEVERITY_ERROR,
                policies=[gpb.PolicyRef(scope="a", identifier="alice")],
            )
        )
    )
    await admin.channel.close(None)


@pytest.mark.parametrize(
    ("service", "method"), METHODS, ids=[f"{s.split('.')[-1]}.{m.name}" for s, m in METHODS]
)
async def test_no_rpc_answers_internal(
    database_url: str,
    opa_url: str,
    service: str,
    method: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    # Short waits: a revision far ahead is DEADLINE_EXCEEDED by design, after this long.
    fuzz_settings = settings_for(database_url, max_revision_wait_s=0.05, opa_url=opa_url)
    async with running_server(fuzz_settings) as server:
        token = await admin_token(server, "a")
        await populate(await connect(server, token))
        failures = await asyncio.to_thread(fuzz_method, server.port, token, service, method)
    assert not failures, failures[0]
    assert "unhandled error" not in caplog.text
