"""Sign-in, sign-out and the console's own security, in headless Chromium."""

from __future__ import annotations

from typing import Any, cast

import pytest
from playwright.async_api import BrowserContext, Page

from audit.v1 import query_pb2 as q
from authz.v1 import authz_pb2 as a
from services.console.web import SESSION_COOKIE
from services.console.web_security import CONTENT_SECURITY_POLICY
from tests.audit.query_fixtures import viewer_of
from tests.console.browser import Console, screenshot, sign_in

pytestmark = pytest.mark.integration


async def test_a_bad_token_is_refused_in_words_and_opens_no_session(
    console: Console, page: Page, context: BrowserContext
) -> None:
    await sign_in(page, console, "aak_nope_0000000000000000")
    assert page.url == console.at("/signin")
    await page.get_by_text("This token was not accepted").wait_for()
    assert SESSION_COOKIE not in {c["name"] for c in await context.cookies()}
    await page.goto(console.at("/events"))
    assert page.url == console.at("/signin")  # nothing without a session
    await screenshot(page, "signin-refused")


async def test_sign_in_keeps_the_token_on_the_server_and_sign_out_ends_the_session(
    console: Console, page: Page, context: BrowserContext
) -> None:
    token = console.api.authz.token
    await page.goto(console.at("/signin"))
    await screenshot(page, "signin")
    await sign_in(page, console, token)
    assert page.url.startswith(console.at("/events"))
    await page.get_by_role("heading", name="Audit trail").wait_for()
    assert token not in page.url
    assert token not in await page.content()
    script = await context.request.get(console.at("/static/console.js"))
    assert token not in await script.text()
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    assert not session["secure"]  # plain HTTP here; CONSOLE_TLS_* or CONSOLE_COOKIE_SECURE set it
    assert token not in session["value"]
    assert await page.evaluate("document.cookie") == ""  # no script can read it

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(console.at("/signin"))
    # The old cookie is worthless: the session was destroyed on the server.
    await context.add_cookies([cast(Any, session)])
    await page.goto(console.at("/events"))
    assert page.url == console.at("/signin")


async def test_every_page_carries_the_security_headers(console: Console, page: Page) -> None:
    response = await page.goto(console.at("/signin"))
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    await sign_in(page, console, console.api.authz.token)
    response = await page.goto(console.at("/events"))
    assert response is not None
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


async def test_a_forged_post_without_the_form_token_changes_nothing(
    console: Console, page: Page, context: BrowserContext
) -> None:
    await sign_in(page, console, console.api.authz.token)
    form = {"name": "forged", "visibility": "everyone", "scope": "a", "query": "scope=a"}
    for extra in ({}, {"csrf": "not-the-token"}):
        # The session cookie goes along (same context), as a cross-site form would try.
        response = await context.request.post(console.at("/filters"), form={**form, **extra})
        assert response.status == 403
        assert "nothing was changed" in await response.text()
    listed = await console.api.stub.ListSavedFilters(
        q.ListSavedFiltersRequest(scope="a"), metadata=console.api.admin
    )
    assert list(listed.saved_filters) == []
    # Sign-in itself is protected too (login CSRF): no form token, no session.
    response = await context.request.post(
        console.at("/signin"), form={"token": console.api.authz.token}
    )
    assert response.status == 403


async def test_a_revoked_token_leads_back_to_sign_in(console: Console, page: Page) -> None:
    token = await viewer_of(console.api, "rita", "a")
    await sign_in(page, console, token)
    await page.get_by_role("heading", name="Audit trail").wait_for()
    await console.api.authz.users.DeleteUser(
        a.DeleteRequest(scope="a", identifier="rita", cascade=True)
    )  # deleting a user revokes its tokens
    await page.goto(console.at("/events"))
    assert page.url.startswith(console.at("/signin"))
    await page.get_by_text("sign in again").wait_for()
    await screenshot(page, "signin-expired")


async def test_the_console_is_usable_with_the_keyboard(console: Console, page: Page) -> None:
    await page.goto(console.at("/signin"))
    assert await page.evaluate("document.activeElement.id") == "token"  # focused at once
    await page.keyboard.type(console.api.authz.token)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/events")
    await page.keyboard.press("Tab")  # the first stop skips to the content
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.get_by_label("Principals").focus()
    await page.keyboard.type("nobody")
    await page.keyboard.press("Enter")  # submits the filter form
    await page.wait_for_url("**principal=nobody**")
    await page.get_by_text("No events match this filter").wait_for()
