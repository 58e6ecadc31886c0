"""Red team finding: the console read any request body whole (Starlette's form parser has no
bound for url-encoded forms and spools multipart files to disk), on public pages too, so one
anonymous POST could hold gigabytes of the console's memory or disk. Its forms are small: a
body over the bound is refused with 413 before the page handler runs.

The console is served by uvicorn as in the browser tests; no API answers behind it (every
request here is refused before a backend is asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from services.console.settings import ConsoleSettings
from services.console.web_security import MAX_BODY
from tests.console.browser import running_console
from tests.harness.services import free_port

PUBLIC_FORMS = ["/signin", "/invitations/accept", "/invitations/signin", "/signout"]


@pytest.fixture
async def console_url() -> AsyncIterator[str]:
    settings = ConsoleSettings(
        port=free_port(), authz_target="127.0.0.1:1", audit_target="127.0.0.1:1"
    )
    async with running_console(settings) as url:
        yield url


async def chunks(total: int) -> AsyncIterator[bytes]:
    yield b"csrf=x&token="
    for _ in range(total // 65536):
        yield b"a" * 65536


@pytest.mark.parametrize("path", PUBLIC_FORMS)
async def test_an_oversized_form_is_refused_before_it_is_read(console_url: str, path: str) -> None:
    body = b"csrf=x&token=" + b"a" * (MAX_BODY + 1)
    async with aiohttp.ClientSession() as http:
        declared = await http.post(
            console_url + path,
            data=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert declared.status == 413
        # Chunked: no length announced, counted as it arrives.
        streamed = await http.post(
            console_url + path,
            data=chunks(8 * MAX_BODY),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status == 413
        form = aiohttp.FormData()
        form.add_field("csrf", "x")
        form.add_field("token", b"a" * (MAX_BODY + 1), filename="big.bin")
        multipart = await http.post(console_url + path, data=form)
        assert multipart.status == 413


async def test_a_form_within_the_bound_still_reaches_its_page(console_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        answer = await http.post(console_url + "/signin", data={"csrf": "x", "token": "t"})
        assert answer.status == 403  # the sign-in page's own CSRF refusal, in words
        assert "The form expired" in await answer.text()
