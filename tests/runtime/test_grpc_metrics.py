"""Every method a service registers through serve_grpc is counted by status code and timed,
whether registered as a generic handler or a registered method (what generated code does), and
whatever way its handler ends: an answer, an abort, an exception, a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY
from pydantic_settings import SettingsConfigDict

from authz.v1 import authz_pb2 as pb
from libs.runtime.error_boundary import Context
from libs.runtime.grpc_server import serve_grpc
from libs.runtime.metrics import _MeasuredGeneric
from libs.runtime.settings import GrpcServerSettings

SERVICE = "test.v1.Measured"


class ServerSettings(GrpcServerSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_TEST_", frozen=True)
    port: int = 0


async def answer(request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
    return pb.WhoAmIResponse(email="a@example.com")


async def refuse(request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
    await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")


async def crash(request: pb.WhoAmIRequest, context: Context) -> pb.WhoAmIResponse:
    raise RuntimeError("a bug")


async def stream(request: pb.WhoAmIRequest, context: Context) -> AsyncIterator[pb.WhoAmIResponse]:
    for _ in range(3):
        yield pb.WhoAmIResponse()


def handlers() -> dict[str, Any]:
    unary = {
        name: grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=pb.WhoAmIRequest.FromString,
            response_serializer=pb.WhoAmIResponse.SerializeToString,
        )
        for name, behavior in (("Answer", answer), ("Refuse", refuse), ("Crash", crash))
    }
    unary["Stream"] = grpc.unary_stream_rpc_method_handler(
        stream,
        request_deserializer=pb.WhoAmIRequest.FromString,
        response_serializer=pb.WhoAmIResponse.SerializeToString,
    )
    return unary


def handled(service: str, method: str, code: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def timed(service: str, method: str) -> float:
    labels = {"grpc_service": service, "grpc_method": method}
    return REGISTRY.get_sample_value("grpc_server_handling_seconds_count", labels) or 0.0


@pytest.mark.parametrize("registered", [False, True], ids=["generic", "registered"])
async def test_calls_are_counted_by_method_and_code_and_timed(registered: bool) -> None:
    service = f"{SERVICE}{int(registered)}"

    def register(server: grpc.aio.Server) -> list[str]:
        if registered:
            server.add_registered_method_handlers(service, handlers())  # type: ignore[attr-defined]
        else:
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, handlers()),)
            )
        return [service]

    timed_before = timed(service, "Answer")
    before = {
        key: handled(service, *key)
        for key in [
            ("Answer", "OK"),
            ("Refuse", "NOT_FOUND"),
            ("Crash", "UNKNOWN"),
            ("Stream", "OK"),
        ]
    }
    async with (
        serve_grpc(ServerSettings(), register, label="test") as running,
        grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel,
    ):

        def call(name: str) -> Any:
            return channel.unary_unary(
                f"/{service}/{name}",
                request_serializer=pb.WhoAmIRequest.SerializeToString,
                response_deserializer=pb.WhoAmIResponse.FromString,
            )

        for _ in range(5):
            await call("Answer")(pb.WhoAmIRequest())
        for name, code in (
            ("Refuse", grpc.StatusCode.NOT_FOUND),
            ("Crash", grpc.StatusCode.UNKNOWN),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(name)(pb.WhoAmIRequest())
            assert raised.value.code() == code
        streamed = channel.unary_stream(
            f"/{service}/Stream",
            request_serializer=pb.WhoAmIRequest.SerializeToString,
            response_deserializer=pb.WhoAmIResponse.FromString,
        )
        assert len([r async for r in streamed(pb.WhoAmIRequest())]) == 3
        # Health is the server's own, not a service's: not measured.
        health = health_pb2_grpc.HealthStub(channel)
        await health.Check(health_pb2.HealthCheckRequest())

    assert handled(service, "Answer", "OK") - before["Answer", "OK"] == 5
    assert handled(service, "Refuse", "NOT_FOUND") - before["Refuse", "NOT_FOUND"] == 1
    assert handled(service, "Crash", "UNKNOWN") - before["Crash", "UNKNOWN"] == 1
    assert handled(service, "Stream", "OK") - before["Stream", "OK"] == 1
    assert timed(service, "Answer") - timed_before == 5
    assert handled("grpc.health.v1.Health", "Check", "OK") == 0


async def test_unknown_methods_leave_no_trace_in_memory_or_metrics() -> None:
    """Method names are the caller's choice: only registered ones are kept or labelled."""
    service = f"{SERVICE}.Unknown"
    measured = _MeasuredGeneric(grpc.method_handlers_generic_handler(service, handlers()))

    def register(server: grpc.aio.Server) -> list[str]:
        server.add_generic_rpc_handlers((cast(Any, measured),))
        return [service]

    async with (
        serve_grpc(ServerSettings(), register, label="test") as running,
        grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel,
    ):
        for n in range(20):
            call = channel.unary_unary(
                f"/{service}/Nope{n}",
                request_serializer=pb.WhoAmIRequest.SerializeToString,
                response_deserializer=pb.WhoAmIResponse.FromString,
            )
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(pb.WhoAmIRequest())
            assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        await channel.unary_unary(
            f"/{service}/Answer",
            request_serializer=pb.WhoAmIRequest.SerializeToString,
            response_deserializer=pb.WhoAmIResponse.FromString,
        )(pb.WhoAmIRequest())
    assert list(measured._wrapped) == [f"/{service}/Answer"]
    assert all(handled(service, f"Nope{n}", "UNIMPLEMENTED") == 0 for n in range(20))
