"""The web console's trail page at 10M stored events, beside the bare ListEvents call it makes.

The store is filled as bench.audit_query fills it (its generator, --events, default 10,000,000,
in a bench_<random> database dropped at the end unless --keep; --database-url reuses a filled
one). An in-process authz server, audit query server and console (uvicorn) share one event loop;
Debian's headless Chromium (Playwright, /usr/bin/chromium) signs in with the administrator of
acct000 and loads /events for a filter again and again, interleaved with the bare gRPC
ListEvents of the same filter and page size (50) from the same process. Per filter:

    gRPC ListEvents         the call alone (the baseline)
    console: first byte     Navigation Timing responseStart - requestStart (the server's work:
                            ListEvents, ListSavedFilters, template)
    console: HTML received  responseEnd - startTime: the whole page arrived
    console: rendered       loadEventEnd - startTime: the page, its CSS and script (cached by
                            the browser after the first page, as in real use), laid out

    static copy: rendered   the same page's HTML saved once and served as a file by Python's
                            http.server (no API call, no template): what the browser alone
                            costs to lay the page out, the floor under "rendered"

and the rendered page's p95 over the call's p95 (target: 2x at most).

    .venv/bin/python -m bench console_page -- --events 10000000
    .venv/bin/python -m bench.console_page --events 200000 --samples 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import grpc
from playwright.async_api import Page, async_playwright
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

import services.console
from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from bench.audit_query import (
    ACCOUNT,
    ADMIN,
    BYTES_PER_EVENT,
    bench_database,
    generate,
    prepare_schema,
)
from bench.endpoints import endpoints
from bench.report import Latency, latency_table, ratio
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.authz.bootstrap import bootstrap_admin
from services.authz.server import running_server
from services.authz.settings import AuthzSettings
from services.console.filters import TrailFilter
from services.console.settings import ConsoleSettings
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS, running_console
from tests.harness.services import free_port

TARGET = 2.0  # rendered page p95 within 2x the call's p95
NAVIGATION = """() => { const n = performance.getEntriesByType('navigation')[0];
  return [n.responseStart - n.requestStart, n.responseEnd - n.startTime,
          n.loadEventEnd - n.startTime]; }"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.console_page",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="rows per INSERT")
    parser.add_argument("--load-connections", type=int, default=2)
    parser.add_argument("--database-url", default="", help="a filled database to reuse")
    parser.add_argument("--keep", action="store_true", help="keep the fresh database")
    parser.add_argument("--samples", type=int, default=50, help="timed pages per series")
    parser.add_argument("--warm-up", type=int, default=5)
    parser.add_argument("--phase-timeout", type=float, default=120.0, help="seconds per filter")
    return parser.parse_args(argv)


FILTERS = {  # label: the console's URL filter (the API filter is what the console sends)
    "account, 7 days": TrailFilter(scope=[ACCOUNT]),
    "account, 7 days, deletes": TrailFilter(scope=[ACCOUNT], action=["DELETE"]),
    "account, 30 days, text 'falcon'": TrailFilter(scope=[ACCOUNT], range="30d", text="falcon"),
}


async def interleaved(
    calls: list[Callable[[], Awaitable[list[float]]]], warm_up: int, samples: int, timeout_s: float
) -> list[list[list[float]]]:
    """Each round calls each once; a call returns its own measured durations (seconds)."""
    timed: list[list[list[float]]] = [[] for _ in calls]
    started = time.perf_counter()
    for round_ in range(warm_up + samples):
        if time.perf_counter() - started > timeout_s:
            break
        for call, out in zip(calls, timed, strict=True):
            durations = await call()
            if round_ >= warm_up:
                out.append(durations)
    return timed


def static_copy(stack: contextlib.AsyncExitStack, html: str) -> str:
    """The page and the console's static files in a temporary folder served by http.server
    (a thread of its own); the page's URL. Stopped when the stack closes."""
    folder = Path(tempfile.mkdtemp(prefix="console-page-"))
    shutil.copytree(Path(services.console.__file__).parent / "static", folder / "static")
    (folder / "events.html").write_text(html)
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def stop() -> None:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

    stack.push_async_callback(stop)
    return f"http://127.0.0.1:{server.server_address[1]}/events.html"


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the browser closing a connection early (its favicon request) is no failure


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


async def measure(console: Console, args: argparse.Namespace, url: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        authz_server = await stack.enter_async_context(
            running_server(
                AuthzSettings(
                    database_url=SecretStr(url), port=0, shutdown_grace_s=2.0, run_relay=False
                )
            )
        )
        token = await bootstrap_admin(authz_server.management, ACCOUNT, ADMIN)
        authz_target = f"127.0.0.1:{authz_server.port}"
        query_server = await stack.enter_async_context(
            running_query_server(
                AuditSettings(database_url=SecretStr(url), port=0, authz_target=authz_target)
            )
        )
        settings = ConsoleSettings(
            port=free_port(),
            authz_target=authz_target,
            audit_target=f"127.0.0.1:{query_server.port}",
        )
        base = await stack.enter_async_context(running_console(settings))
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{query_server.port}")
        stack.push_async_callback(channel.close, None)
        stub = q_grpc.AuditQueryServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        playwright = await stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.push_async_callback(browser.close)
        page = await browser.new_page()
        await page.goto(base + "/signin")
        await page.get_by_label("API key token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/events**")
        rows: list[tuple[Latency, Latency | None]] = []
        summary: list[tuple[str, Latency, Latency, Latency, Latency, int]] = []
        for label, chosen in FILTERS.items():
            request = q.ListEventsRequest(filter=chosen.to_proto(), page_size=settings.page_size)

            async def call(request: q.ListEventsRequest = request) -> list[float]:
                t = time.perf_counter()
                await stub.ListEvents(request, metadata=metadata, timeout=60)
                return [time.perf_counter() - t]

            async def load(page: Page = page, chosen: TrailFilter = chosen) -> list[float]:
                await page.goto(base + "/events?" + urlencode(chosen.to_query()))
                return [ms / 1000 for ms in await page.evaluate(NAVIGATION)]

            await load()
            if await page.get_by_role("alert").count():
                raise SystemExit(f"{label}: {await page.get_by_role('alert').inner_text()}")
            count = await page.locator("table.events tbody tr").count()
            copy = static_copy(stack, await page.content())

            async def load_copy(page: Page = page, copy: str = copy) -> list[float]:
                await page.goto(copy)
                return [ms / 1000 for ms in await page.evaluate(NAVIGATION)]

            grpc_s, page_s, copy_s = await interleaved(
                [call, load, load_copy], args.warm_up, args.samples, args.phase_timeout
            )
            api = Latency(f"{label}: gRPC ListEvents", [s[0] for s in grpc_s], args.samples)
            first = Latency(f"{label}: console first byte", [s[0] for s in page_s], args.samples)
            html = Latency(f"{label}: console HTML received", [s[1] for s in page_s], args.samples)
            rendered = Latency(f"{label}: console rendered", [s[2] for s in page_s], args.samples)
            floor = Latency(f"{label}: static copy, rendered", [s[2] for s in copy_s], args.samples)
            rows += [(api, None), (first, api), (html, api), (rendered, api), (floor, api)]
            summary.append((label, api, first, rendered, floor, count))
    console.print(latency_table("Trail page of 50 events vs the bare ListEvents call (ms)", rows))
    table = Table(
        title=f"Rendered page p95 vs ListEvents p95 (target {TARGET:.0f}x)", title_justify="left"
    )
    columns = ["filter", "rows", "gRPC p95", "first byte p95", "rendered p95", "rendered/gRPC"]
    columns += ["static copy p95"]
    for column in [*columns, "target met"]:
        table.add_column(column, justify="left" if column == "filter" else "right")
    for label, api, first, rendered, floor, count in summary:
        api95, rendered95 = api.quantile(95), rendered.quantile(95)
        table.add_row(
            label,
            str(count),
            f"{api95 * 1000:.1f}",
            f"{first.quantile(95) * 1000:.1f}",
            f"{rendered95 * 1000:.1f}",
            ratio(rendered95, api95),
            f"{floor.quantile(95) * 1000:.1f}",
            "yes" if rendered95 <= TARGET * api95 else "no",
        )
    console.print(table)


async def main(argv: list[str]) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    console = Console(width=max(Console().width, 160))
    started = time.perf_counter()
    async with bench_database(
        console, endpoints().database_url, args.database_url, args.keep
    ) as url:
        conn = await asyncpg.connect(url)
        try:
            await prepare_schema(conn, datetime.now(UTC))
            count = await conn.fetchval("SELECT count(*) FROM audit_events")
            if count == 0:
                size_gb = args.events * BYTES_PER_EVENT / 1e9
                console.print(f"generating {args.events:,} events (~{size_gb:.1f} GB)")
                await generate(url, conn, console, args.events, args.chunk, args.load_connections)
                count = args.events
            console.print(f"{count:,} events stored")
        finally:
            await conn.close()
        await measure(console, args, url)
    console.print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    import sys

    asyncio.run(main(sys.argv[1:]))
