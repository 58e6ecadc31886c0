"""The gRPC server bootstrap and the channel to authz, with in-process servers on free local
ports (no database, no broker): health and reflection, the graceful shutdown, and the channel's
retries of UNAVAILABLE and default deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic_settings import SettingsConfigDict

from authz.v1 import authz_pb2 as pb
from authz.v1 import authz_pb2_grpc as pb_grpc
from libs.runtime.authz_channel import authz_channel
from libs.runtime.error_boundary import Context
from libs.runtime.grpc_server import GrpcServer, serve_grpc
from libs.runtime.settings import AuthzClientSettings, GrpcServerSettings
from tests.runtime.fake_context import FakeContext, context_of

ACCESS = "authz.v1.AccessService"
USERS = "authz.v1.UserService"


class ServerSettings(GrpcServerSettings):
    model_config = SettingsConfigDict(env_prefix="RUNTIME_TEST_", frozen=True)
    port: int = 0


class ClientSettings(AuthzClientSettings):
    model_config = SettingsConfigDict(env_prefix="RUNTIME_TEST_", frozen=True)


def unary(behavior: Any, request: Any, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=request.FromString,
        response_serializer=response.SerializeToString,
    )


class FlakyAccess:
    """WhoAmI fails UNAVAILABLE `failures` times, then answers; Check never answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.never = asyncio.Event()

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
        self.calls += 1
        if self.calls <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "busy")
        return pb.WhoAmIResponse(email="alice@example.com")

    async def Check(self, request: pb.CheckRequest, context: Context) -> pb.CheckResponse:
        await self.never.wait()
        return pb.CheckResponse()


class BusyUsers:
    def __init__(self) -> None:
        self.calls = 0

    async def GetUser(self, request: pb.GetRequest, context: Context) -> pb.UserResponse:
        self.calls += 1
        await context.abort(grpc.StatusCode.UNAVAILABLE, "busy")


@pytest.fixture
async def authz_like(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GrpcServer, Any]]:
    access, users = FlakyAccess(getattr(request, "param", 0)), BusyUsers()

    def register(server: grpc.aio.Server) -> list[str]:
        access_handlers = {
            "WhoAmI": unary(access.WhoAmI, pb.WhoAmIRequest, pb.WhoAmIResponse),
            "Check": unary(access.Check, pb.CheckRequest, pb.CheckResponse),
        }
        user_handlers = {"GetUser": unary(users.GetUser, pb.GetRequest, pb.UserResponse)}
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(ACCESS, access_handlers),
                grpc.method_handlers_generic_handler(USERS, user_handlers),
            )
        )
        return [ACCESS, USERS]

    async with serve_grpc(ServerSettings(), register, label="test") as running:
        yield running, (access, users)


async def test_health_and_reflection_serve_every_service(
    authz_like: tuple[GrpcServer, Any],
) -> None:
    running, _ = authz_like
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", ACCESS, USERS, "grpc.health.v1.Health"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        async for answer in reflection.ServerReflectionInfo(iter([ask]), timeout=10):
            listed = {s.name for s in answer.list_services_response.service}
        assert {ACCESS, USERS, "grpc.health.v1.Health"} <= listed


async def test_on_exit_health_says_not_serving() -> None:
    async with serve_grpc(ServerSettings(), lambda _: [ACCESS], label="test") as running:
        pass
    answer = await running.health.Check(
        health_pb2.HealthCheckRequest(service=ACCESS), context_of(FakeContext())
    )
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.parametrize("authz_like", [2], indirect=True)
async def test_the_channel_retries_unavailable_reads(authz_like: tuple[GrpcServer, Any]) -> None:
    running, (access, _) = authz_like
    async with authz_channel(ClientSettings(authz_target=f"127.0.0.1:{running.port}")) as ch:
        me = await pb_grpc.AccessServiceStub(ch).WhoAmI(pb.WhoAmIRequest())
    assert me.email == "alice@example.com"
    assert access.calls == 3


async def test_the_channel_does_not_repeat_writes(authz_like: tuple[GrpcServer, Any]) -> None:
    running, (_, users) = authz_like
    async with authz_channel(ClientSettings(authz_target=f"127.0.0.1:{running.port}")) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.UserServiceStub(ch).GetUser(pb.GetRequest())
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert users.calls == 1


async def test_the_channel_gives_calls_a_deadline(authz_like: tuple[GrpcServer, Any]) -> None:
    running, _ = authz_like
    settings = ClientSettings(authz_target=f"127.0.0.1:{running.port}", authz_timeout_s=0.2)
    async with authz_channel(settings) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await pb_grpc.AccessServiceStub(ch).Check(pb.CheckRequest())
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_client_certificate_without_the_ca_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="CA"):
        authz_channel(ClientSettings(authz_tls_cert_file="c.pem", authz_tls_key_file="k.pem"))
