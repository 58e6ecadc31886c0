"""A gRPC channel to an in-process authz server, authenticated as an account's administrator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from services.authz.bootstrap import bootstrap_admin
from services.authz.server import RunningServer

ADMIN = "bench-admin"


class BearerToken(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Adds `authorization: Bearer <token>` to every call, as a real client would."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self.token}")]
        return await continuation(details._replace(metadata=metadata), request)


async def admin_channel(server: RunningServer, account: str) -> grpc.aio.Channel:
    """Bootstraps the account's administrator (its user, binding and an API key: audited
    changes, so events of their own) and returns a channel that calls as it."""
    token = await bootstrap_admin(server.management, account, ADMIN)
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{server.port}",
        interceptors=[BearerToken(token)],  # type: ignore[list-item]
    )
