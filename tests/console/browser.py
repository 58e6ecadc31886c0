"""The console served in the test's event loop against the real authz and audit query servers,
and Debian's headless Chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from services.console.app import create_app
from services.console.settings import ConsoleSettings
from tests.audit.query_fixtures import QueryApi
from tests.harness.endpoints import ROOT, unavailable
from tests.harness.services import free_port

CHROMIUM = os.environ.get("CONSOLE_TEST_CHROMIUM", "/usr/bin/chromium")
# The flags a closed network needs (no background connections) and root needs (no sandbox).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-artifacts" / "console"  # git-ignored; the README names it


@dataclass
class Console:
    url: str
    api: QueryApi
    settings: ConsoleSettings

    def at(self, path: str) -> str:
        return self.url + path


@contextlib.asynccontextmanager
async def running_console(
    settings: ConsoleSettings, log_level: str = "warning"
) -> AsyncIterator[str]:
    """The console served by uvicorn in this event loop until the block exits; its URL.
    With log_level "info", uvicorn writes its access log (logger uvicorn.access)."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_level=log_level,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def console(api: QueryApi) -> AsyncIterator[Console]:
    settings = ConsoleSettings(
        port=free_port(),
        authz_target=f"127.0.0.1:{api.authz.server.port}",
        audit_target=f"127.0.0.1:{api.port}",
        page_size=20,
    )
    async with running_console(settings) as url:
        yield Console(url, api, settings)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per session)
        unavailable("Chromium", f"{CHROMIUM} is missing (make tools installs Debian's chromium)")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh profile per test: no cookie of another test."""
    ctx = await browser.new_context(
        accept_downloads=True, viewport={"width": 1366, "height": 860}, timezone_id="UTC"
    )
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


async def sign_in(page: Page, console: Console, token: str) -> None:
    await page.goto(console.at("/signin"))
    await page.get_by_label("API key token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def shown_event_ids(page: Page) -> list[str]:
    """The event ids of the trail's rows, in order (each row links its detail page)."""
    hrefs = await page.locator("table.events tbody tr td:first-child a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return [h.removeprefix("/events/") for h in hrefs]
