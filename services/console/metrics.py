"""The console's metrics: HTTP requests by method, route and status class, and their latency.
The route is the matched route's path template (`/events/{event_id}`), never the path a
browser sent; unknown methods and unmatched paths fold into one value each, so the series stay
bounded (DESIGN section 6)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "console_http_requests_total",
    "HTTP requests answered, by method, route template and status class (2xx ... 5xx).",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "console_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
METHODS = frozenset({"GET", "HEAD", "POST"})


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "/static" if scope.get("path", "").startswith("/static/") else "unmatched"


class HttpMetrics:
    """Pure ASGI middleware (streaming answers pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_of(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(method, route, f"{status // 100}xx").inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)
