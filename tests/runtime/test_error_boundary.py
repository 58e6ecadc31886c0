"""The shared error boundary: statuses declared by domain classes, upstream codes kept,
transient database failures UNAVAILABLE, the rest INTERNAL; handlers wrapped once, unary and
server-streaming alike, with an optional hook before each call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import grpc
import pytest
from google.protobuf.descriptor import ServiceDescriptor

from libs.runtime.error_boundary import Context, ErrorBoundary
from tests.runtime.fake_context import FakeContext, context_of, upstream_error


class ShopError(Exception):
    status = "INTERNAL"


class OutOfStock(ShopError):
    status = "FAILED_PRECONDITION"


class SoldOut(OutOfStock):
    """Declares nothing: inherits its parent's status."""


class Misspelt(ShopError):
    status = "NOT_A_CODE"


BOUNDARY = ErrorBoundary(ShopError)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (OutOfStock("no apples"), grpc.StatusCode.FAILED_PRECONDITION, "no apples"),
        (SoldOut("no pears"), grpc.StatusCode.FAILED_PRECONDITION, "no pears"),
        (ShopError("odd"), grpc.StatusCode.INTERNAL, "odd"),
        (Misspelt("typo"), grpc.StatusCode.INTERNAL, "internal error"),
        (upstream_error(grpc.StatusCode.UNAVAILABLE, "connect to 10.0.0.7 failed"),
         grpc.StatusCode.UNAVAILABLE, "a service this one depends on answered UNAVAILABLE"),
        (asyncpg.QueryCanceledError("statement timeout"), grpc.StatusCode.UNAVAILABLE,
         "the service is busy: retry"),
        (ConnectionResetError(), grpc.StatusCode.UNAVAILABLE, "the service is busy: retry"),
        (KeyError("secret detail"), grpc.StatusCode.INTERNAL, "internal error"),
    ],
)  # fmt: skip
def test_status_of(error: Exception, code: grpc.StatusCode, message: str) -> None:
    assert BOUNDARY.status_of(error, "shop.Buy") == (code, message)


def test_an_unexpected_error_is_logged_in_full_and_answered_generically(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        code, message = BOUNDARY.status_of(KeyError("row 42"), "shop.Buy")
    assert (code, message) == (grpc.StatusCode.INTERNAL, "internal error")
    [record] = caplog.records
    assert "shop.Buy" in record.getMessage()
    assert record.exc_info is not None
    assert "row 42" in str(record.exc_info[1])


def service_of(**streaming: bool) -> ServiceDescriptor:
    """A service descriptor's shape: method name -> whether the server streams."""
    methods = [
        SimpleNamespace(
            name=name, full_name=f"shop.Shop.{name}", client_streaming=False, server_streaming=s
        )
        for name, s in streaming.items()
    ]
    return cast(ServiceDescriptor, SimpleNamespace(methods=methods))


class Servicer:
    """One unary RPC and one server-streaming RPC."""

    async def GetEvent(self, request: Any, context: Context) -> str:
        if request == "missing":
            raise SoldOut("gone")
        return "event"

    async def ExportEvents(self, request: Any, context: Context) -> AsyncIterator[str]:
        yield "first chunk"
        raise upstream_error(grpc.StatusCode.DEADLINE_EXCEEDED)


def guarded(before: Any = None) -> Any:
    service = service_of(GetEvent=False, ExportEvents=True)
    return BOUNDARY.guard_servicer(Servicer(), service, before)


async def drain(stream: AsyncIterator[Any], into: list[Any]) -> None:
    async for item in stream:
        into.append(item)


async def test_a_unary_handler_answers_or_aborts_with_the_mapped_status() -> None:
    servicer = guarded()
    assert await servicer.GetEvent("present", context_of(FakeContext())) == "event"
    fake = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await servicer.GetEvent("missing", context_of(fake))
    assert (fake.code, fake.details) == (grpc.StatusCode.FAILED_PRECONDITION, "gone")


async def test_a_streaming_handler_aborts_mid_stream_with_the_mapped_status() -> None:
    fake, received = FakeContext(), list[str]()
    with pytest.raises(grpc.aio.AbortError):
        await drain(guarded().ExportEvents("all", context_of(fake)), received)
    assert received == ["first chunk"]
    assert fake.code == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_the_hook_runs_before_every_call_and_its_errors_are_mapped_too() -> None:
    calls = []

    async def refuse(context: Context) -> None:
        calls.append(context)
        raise OutOfStock("closed")

    servicer = guarded(refuse)
    unary = FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await servicer.GetEvent("present", context_of(unary))
    stream, received = FakeContext(), list[str]()
    with pytest.raises(grpc.aio.AbortError):
        await drain(servicer.ExportEvents("all", context_of(stream)), received)
    assert received == []  # the handler never ran
    assert unary.code == stream.code == grpc.StatusCode.FAILED_PRECONDITION
    assert len(calls) == 2


def test_client_streaming_rpcs_are_refused_rather_than_left_unguarded() -> None:
    service = service_of(Upload=False)
    service.methods[0].client_streaming = True
    with pytest.raises(RuntimeError, match="client streaming"):
        BOUNDARY.guard_servicer(object(), service)
