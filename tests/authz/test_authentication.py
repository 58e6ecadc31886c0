"""Every RPC but health and reflection needs a valid bearer token; API keys hold the tokens."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import symbol_database
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from services.authz.server import running_server
from tests.authz.clients import Authz, connect, create_user, settings_for, user_token
from tests.harness.endpoints import ROOT

pytestmark = pytest.mark.integration


# The one RPC without a token: its request carries its own credential (the invitation secret).
PUBLIC = {"/authz.v1.InvitationService/AcceptInvitation"}


def every_rpc(public: bool = False) -> list[tuple[str, Any, Any]]:
    """(full method path, request class, response class) of every authz RPC (the public ones
    only, with `public`)."""
    database = symbol_database.Default()
    methods = []
    services = [*pb.DESCRIPTOR.services_by_name.values()]
    services += ipb.DESCRIPTOR.services_by_name.values()
    for service in services:
        for method in service.methods:
            if (f"/{service.full_name}/{method.name}" in PUBLIC) != public:
                continue
            request = database.GetSymbol(method.input_type.full_name)
            response = database.GetSymbol(method.output_type.full_name)
            methods.append((f"/{service.full_name}/{method.name}", request, response))
    return methods


async def call_raw(
    channel: grpc.aio.Channel, path: str, request: Any, response: Any, token: str | None
) -> None:
    rpc = channel.unary_unary(
        path,
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
    await rpc(request(), metadata=metadata, timeout=10)


def bad_tokens(valid: str) -> dict[str, str | None]:
    prefix = valid.split("_")[1]
    return {
        "missing": None,
        "empty": "",
        "malformed": "not-a-token",
        "unknown prefix": f"aak_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
        "right prefix, wrong secret": f"aak_{prefix}_{secrets.token_urlsafe(32)}",
    }


async def test_every_rpc_refuses_a_missing_or_invalid_token(authz: Authz) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{authz.server.port}")
    try:
        for path, request, response in every_rpc():
            for why, token in bad_tokens(authz.token).items():
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call_raw(channel, path, request, response, token)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (path, why)
                assert info.value.details() == "missing or invalid credentials", (path, why)
    finally:
        await channel.close(None)


async def test_only_accepting_an_invitation_needs_no_token(authz: Authz) -> None:
    """Without a token (or with a bad one) the public RPC answers for its own credential, the
    secret, and nothing else; every other RPC was refused above."""
    assert [path for path, *_ in every_rpc(public=True)] == sorted(PUBLIC)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{authz.server.port}")
    try:
        for path, request, response in every_rpc(public=True):
            for why, token in bad_tokens(authz.token).items():
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call_raw(channel, path, request, response, token)
                assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, (path, why)
                assert "invitation" in str(info.value.details()), (path, why)
    finally:
        await channel.close(None)


async def test_a_thousand_random_tokens_get_nothing(authz: Authz) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{authz.server.port}")
    prefix = authz.token.split("_")[1]
    try:
        for i in range(1000):
            kind = i % 4
            token = [
                secrets.token_urlsafe(40),
                f"aak_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
                f"aak_{prefix}_{secrets.token_urlsafe(32)}",
                authz.token[:-1] + ("A" if authz.token[-1] != "A" else "B"),
            ][kind]
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call_raw(
                    channel,
                    "/authz.v1.UserService/ListUsers",
                    pb.ListRequest,
                    pb.ListUsersResponse,
                    token,
                )
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await channel.close(None)


async def test_health_needs_no_token(authz: Authz) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{authz.server.port}")
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close(None)


async def new_key(
    authz: Authz, owner: pb.Principal, scope: str, identifier: str, **fields: Any
) -> pb.ApiKeyTokenResponse:
    return await authz.api_keys.CreateApiKey(
        pb.CreateApiKeyRequest(
            api_key=pb.ApiKey(scope=scope, identifier=identifier, owner=owner, **fields)
        )
    )


async def test_revoked_rotated_and_expired_tokens_stop_working(authz: Authz) -> None:
    await create_user(authz, "a", "bob")
    bob = pb.Principal(type=pb.PRINCIPAL_TYPE_USER, identifier="bob")
    first_token = await user_token(authz.server, "a", "bob")  # the operator's path
    as_first = await connect(authz.server, first_token)
    # Bob issues his own keys, and may do nothing else yet.
    first = await new_key(as_first, bob, "a", "k1")
    assert first.token.startswith(f"aak_{first.api_key.token_prefixes[0]}_")
    as_bob = await connect(authz.server, first.token)
    listed = await as_bob.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))
    assert "k1" in [k.identifier for k in listed.api_keys]
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await as_bob.users.ListUsers(pb.ListRequest(scope="a"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    rotated = await as_bob.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope="a", identifier="k1"))
    assert rotated.token != first.token
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await as_bob.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))
    assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED
    as_bob_again = await connect(authz.server, rotated.token)
    await as_bob_again.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))

    # The administrator revokes bob's key (offboarding), but may not issue one for him.
    revoked = await authz.api_keys.RevokeApiKey(pb.DeleteRequest(scope="a", identifier="k1"))
    assert revoked.api_key.revoked
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await as_bob_again.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))
    assert gone.value.code() == grpc.StatusCode.UNAUTHENTICATED

    soon = datetime.now(UTC) + timedelta(seconds=2)
    expiring = pb.ApiKey(scope="a", identifier="k2", owner=bob)
    expiring.expires_at.FromDatetime(soon)
    short = await as_first.api_keys.CreateApiKey(pb.CreateApiKeyRequest(api_key=expiring))
    as_short = await connect(authz.server, short.token)
    await as_short.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))
    await asyncio.sleep(2.5)
    with pytest.raises(grpc.aio.AioRpcError) as expired:
        await as_short.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bob, scope="a"))
    assert expired.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # A rotation cannot bring an expired key back.
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await as_first.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope="a", identifier="k2"))
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for client in (as_first, as_bob, as_bob_again, as_short):
        await client.channel.close(None)


async def test_the_bootstrap_command_prints_an_admin_token_once(database_url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.authz", "bootstrap", "--account", "acme", "--admin", "root",
        cwd=ROOT, env={**os.environ, "AUTHZ_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    token = out.decode().strip().splitlines()[-1]
    assert token.startswith("aak_")
    async with running_server(settings_for(database_url)) as server:
        root = await connect(server, token)
        listed = await root.users.ListUsers(pb.ListRequest(scope="acme"))
        assert [u.identifier for u in listed.users] == ["root"]
        with pytest.raises(grpc.aio.AioRpcError) as other_account:
            await root.users.ListUsers(pb.ListRequest(scope="a"))
        assert other_account.value.code() == grpc.StatusCode.PERMISSION_DENIED
        await root.channel.close(None)
