"""A minimal HTTP health endpoint for processes without a gRPC server (the projector worker,
the standalone outbox relay): GET /health answers 200 with a JSON report when the process does
its job, 503 otherwise; compose and Kubernetes probes use it. GET /metrics answers the process's
Prometheus metrics on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

Report = Callable[[], Awaitable[tuple[bool, dict[str, object]]]]


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
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
        elif path.split(b"?")[0] == b"/metrics":
            writer.write(_response("200 OK", generate_latest(REGISTRY), CONTENT_TYPE_LATEST))
        else:
            writer.write(_response("404 Not Found", b'{"error": "try /health or /metrics"}'))
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
    log.info("health on http://%s:%d/health, metrics on /metrics", host, bound)
    return server
