"""A minimal HTTP health endpoint for processes without a gRPC server (the projector worker,
the standalone outbox relay): GET /health answers 200 with a JSON report when the process does
its job, 503 otherwise; compose and Kubernetes probes use it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Report = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _serve_one(
    report: Report, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
        if path.split(b"?")[0] in (b"/health", b"/healthz"):
            healthy, details = await asyncio.wait_for(report(), 5.0)
            body = json.dumps(details, default=str).encode()
            writer.write(_response("200 OK" if healthy else "503 Service Unavailable", body))
        else:
            writer.write(_response("404 Not Found", b'{"error": "try /health"}'))
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def start_health_server(host: str, port: int, report: Report) -> asyncio.Server:
    server = await asyncio.start_server(
        lambda r, w: _serve_one(report, r, w), host, port, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    log.info("health on http://%s:%d/health", host, bound)
    return server
