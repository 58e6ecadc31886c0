"""The console's HTTP metrics: counted by method, route template and status class; a browser's
paths and methods never become label values."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.console.metrics import HttpMetrics


async def event(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["event_id"])


APP = Starlette(
    routes=[Route("/events/{event_id}", event, methods=["GET", "POST"])],
    middleware=[Middleware(HttpMetrics)],
)


async def call(method: str, path: str) -> int:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "root_path": "",
    }  # fmt: skip
    await APP(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


def requests(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("console_http_requests_total", labels) or 0.0


async def test_requests_are_counted_by_route_template_and_status_class() -> None:
    before = {
        key: requests(*key)
        for key in [
            ("GET", "/events/{event_id}", "2xx"),
            ("GET", "unmatched", "4xx"),
            ("other", "/events/{event_id}", "4xx"),
        ]
    }
    for n in range(3):
        assert await call("GET", f"/events/e{n}") == 200
    assert await call("GET", "/no/such/page/secret-looking") == 404
    assert await call("BREW", "/events/e1") == 405
    assert (
        requests("GET", "/events/{event_id}", "2xx") - before["GET", "/events/{event_id}", "2xx"]
        == 3
    )
    assert requests("GET", "unmatched", "4xx") - before["GET", "unmatched", "4xx"] == 1
    assert (
        requests("other", "/events/{event_id}", "4xx")
        - before["other", "/events/{event_id}", "4xx"]
        == 1
    )
    routes = {s.labels["route"] for m in REGISTRY.collect() for s in m.samples
              if s.name == "console_http_requests_total"}  # fmt: skip
    assert not any("e1" in r or "secret" in r for r in routes)
