"""A stand-in for grpc.aio.ServicerContext: enough for the error boundary and the handlers'
metadata readers, without a server."""

from __future__ import annotations

from typing import Any, NoReturn, cast

import grpc

from libs.runtime.error_boundary import Context


class FakeContext:
    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.metadata = metadata
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def peer(self) -> str:
        return "ipv4:127.0.0.1:50000"

    async def abort(self, code: grpc.StatusCode, details: str = "", *_: Any) -> NoReturn:
        self.code, self.details = code, details
        raise grpc.aio.AbortError()


def context_of(fake: FakeContext) -> Context:
    return cast(Context, fake)


def upstream_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    """What a failed call to another service raises in the caller."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)
