"""A gRPC channel to an in-process authz server, authenticated as an account's administrator."""

from __future__ import annotations

import grpc

from libs.runtime.bearer_token import BearerToken
from services.authz.bootstrap import bootstrap_admin
from services.authz.server import RunningServer

ADMIN = "bench-admin"


async def admin_channel(server: RunningServer, account: str) -> grpc.aio.Channel:
    """Bootstraps the account's administrator (its user, binding and an API key: audited
    changes, so events of their own) and returns a channel that calls as it."""
    token = await bootstrap_admin(server.management, account, ADMIN)
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{server.port}",
        interceptors=[BearerToken(token)],  # type: ignore[list-item]
    )
