"""Serving the SCIM API from the authz process (uvicorn on a socket of its own), beside gRPC:
the adapter calls the management commands directly, so SCIM adds no credentials, no network
hop and no header that authz would have to trust to label events "scim"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Sequence

import uvicorn

from libs.runtime.call_origin import Network
from services.authz.authentication import Authenticator
from services.authz.management import Management
from services.scim.app import ScimApi

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the authz process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@contextlib.asynccontextmanager
async def serving_scim(
    management: Management,
    authenticator: Authenticator,
    trusted_proxies: Sequence[Network],
    host: str,
    port: int,
) -> AsyncIterator[int]:
    """Serve until the block ends; yields the bound port (`port` 0: any free one)."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets (and their accepted
    # connections); without it every keep-alive answer waits ~40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    app = ScimApi(management, authenticator, trusted_proxies).app()
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        server_header=False,
        limit_concurrency=512,  # beyond it: 503 at once, not an unbounded queue
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises why it stopped
                await asyncio.sleep(0.01)
        bound = int(listener.getsockname()[1])
        log.info("SCIM on http://%s:%d/scim/v2/accounts/<account>", host, bound)
        yield bound
    finally:
        server.should_exit = True
        await task
        listener.close()
