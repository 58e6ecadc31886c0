"""The invitation accept page in headless Chromium: the link of a real mail (authz, its relay,
Kafka, the mailer, an SMTP server) opened in the browser, the token shown once, "Sign in with
it", and the new user's bindings deciding; the single error for a used, revoked or unknown
link; the page without JavaScript; forged forms; the rate limit, per browser address when authz
trusts the console. The secret never reaches a server log or the final URL."""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from pydantic import SecretStr

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from services.audit.query_server import running_query_server
from services.audit.settings import AuditSettings
from services.authz.server import RunningServer, running_server
from services.console.pages_invitation import INVALID, RATE_LIMITED
from services.console.settings import ConsoleSettings
from services.mailer.mailer import Mailer
from services.mailer.settings import MailerSettings
from tests.audit.query_fixtures import record, store
from tests.authz.clients import Authz, bind, connect, settings_for, user
from tests.authz.invitation_helpers import audit_events, invitations, invite, secret_of
from tests.console.browser import Console, running_console, screenshot
from tests.harness.services import free_port
from tests.mailer.smtp_inbox import Inbox, inbox, task_of

__all__ = ["inbox"]  # a fixture

pytestmark = pytest.mark.integration

TOKEN = re.compile(r"aak_[A-Za-z0-9_-]+")
HREF = re.compile(r'href="([^"]+/invitations/accept#[^"]+)"')


class Lines(logging.Handler):
    """Every log line of the loggers it is attached to, formatted as they would be written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@contextmanager
def server_logs() -> Iterator[Lines]:
    """The console's uvicorn access log, uvicorn's own and every other logger of this process,
    down to DEBUG. Attached after uvicorn configured its loggers (its access logger does not
    propagate)."""
    lines = Lines()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.access", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(lines)
    try:
        yield lines
    finally:
        for logger in loggers:
            logger.removeHandler(lines)
        root.setLevel(level)


@dataclass
class Site:
    """A console served for one test."""

    url: str

    def at(self, path: str) -> str:
        return self.url + path


async def accept_in(page: Page) -> int:
    """Click "Accept the invitation"; the status of the page the form's POST got."""
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Accept the invitation").click()
    response = await answer.value
    await page.wait_for_load_state()
    return response.status


# ------------------------------------------------------------------ the whole flow from a mail


@dataclass
class Stack:
    console: Site
    admin: Authz
    server: RunningServer
    database_url: str
    mails: Inbox
    logs: Lines


@pytest.fixture
async def stack(
    database_url: str, kafka_bootstrap: str, unique_name: str, inbox: tuple[Inbox, int]
) -> AsyncIterator[Stack]:
    """authz with its relay (mails' links point at the console), the audit query API, the
    console with its access log on, and the mailer sending to the in-process SMTP server."""
    mails, smtp_port = inbox
    console_port = free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    settings = settings_for(
        database_url,
        run_relay=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        audit_topic=f"audit-{unique_name}",
        notifications_topic=f"notes-{unique_name}",
        console_url=console_url,
    )
    mailer = Mailer(
        MailerSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            topic=f"notes-{unique_name}",
            group_id=unique_name,
            smtp_port=smtp_port,
        )
    )
    async with AsyncExitStack() as exits:
        server = await exits.enter_async_context(running_server(settings))
        admin = await connect(server)
        exits.push_async_callback(admin.channel.close, None)
        audit_settings = AuditSettings(
            database_url=SecretStr(database_url),
            port=0,
            authz_target=f"127.0.0.1:{server.port}",
        )
        query = await exits.enter_async_context(running_query_server(audit_settings))
        console_settings = ConsoleSettings(
            port=console_port,
            authz_target=f"127.0.0.1:{server.port}",
            audit_target=f"127.0.0.1:{query.port}",
        )
        url = await exits.enter_async_context(running_console(console_settings, "info"))
        assert url == console_url
        logs = exits.enter_context(server_logs())
        exits.enter_context(task_of(mailer.run()))
        yield Stack(Site(url), admin, server, database_url, mails, logs)


async def test_the_mailed_link_accepts_signs_in_and_the_bindings_decide(
    stack: Stack, browser: Browser, page: Page
) -> None:
    console, admin = stack.console, stack.admin
    # zoe may view the audit trail of organization a/o, not of the whole account.
    await invite(admin, "a", "zoe")
    await bind(
        admin, "a/o", "zoe-viewer", user("zoe"), "_organization_viewer",
        "_all_resources_including_child_scopes",
    )  # fmt: skip
    await store(
        stack.database_url,
        [record(i, organization="o" if i < 3 else "") for i in range(5)],
    )

    mail = await stack.mails.message(0)
    html = mail.get_body(("html",))
    assert html is not None
    found = HREF.search(str(html.get_content()))
    assert found is not None
    link = found.group(1).replace("&amp;", "&")
    assert link.startswith(console.at("/invitations/accept#inv_"))
    secret = link.partition("#")[2]

    await page.goto(link)
    # The script took the secret out of the address bar and the session history.
    assert page.url == console.at("/invitations/accept")
    assert await page.evaluate("location.hash") == ""
    await page.get_by_text("Your invitation link is ready").wait_for()
    assert not await page.get_by_label("Invitation link or secret").is_visible()
    await screenshot(page, "invitation-ready")

    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="Accept the invitation").click()
    answer = await navigation.value
    assert answer is not None
    assert answer.headers["cache-control"] == "no-store"
    await page.get_by_role("heading", name="Welcome, Zoe").wait_for()
    token = (await page.locator("#new-token").text_content() or "").strip()
    assert TOKEN.fullmatch(token), token
    assert page.url == console.at("/invitations/accept")
    await screenshot(page, "invitation-accepted")
    # It is zoe's own working token.
    zoe = await connect(stack.server, token)
    try:
        me = await zoe.access.WhoAmI(pb.WhoAmIRequest())
        assert (me.principal.identifier, me.email) == ("zoe", "zoe@example.com")
    finally:
        await zoe.channel.close(None)

    await page.get_by_role("button", name="Sign in with it").click()
    await page.wait_for_url(console.at("/events"))
    assert (await page.locator(".me").inner_text()).startswith("zoe <zoe@example.com>")
    # The account's trail is not hers to see; her organization's is.
    assert (await page.get_by_role("alert").inner_text()).startswith("You are not allowed")
    await screenshot(page, "invitation-signed-in-denied")
    await page.goto(console.at("/events?scope=a/o&range=90d"))
    assert len(await page.locator("table.events tbody tr").all()) == 3
    await screenshot(page, "invitation-signed-in-trail")
    assert secret not in page.url
    assert token not in page.url

    # The link works once: opened again, it says so in words, like any dead link.
    again = await (await browser.new_context()).new_page()
    await again.goto(link)
    assert await accept_in(again) == 401
    await again.get_by_text(INVALID).wait_for()
    await screenshot(again, "invitation-used")
    await again.context.close()

    # The access log saw the page and the form's POST, never the secret (nor the token).
    access = [line for line in stack.logs.lines if line.startswith("uvicorn.access")]
    assert any('"GET /invitations/accept HTTP/1.1" 200' in line for line in access), access
    assert any('"POST /invitations/accept HTTP/1.1" 200' in line for line in access), access
    assert any('"POST /invitations/accept HTTP/1.1" 401' in line for line in access), access
    secret_part = secret.split("_", 2)[2]
    # Every line but the test's SMTP server's, which is the mailbox and receives the secret.
    ours = [line for line in stack.logs.lines if not line.startswith("mail.log")]
    assert ours
    for line in ours:
        assert secret_part not in line
        assert token.split("_", 2)[2] not in line


# ------------------------------------------------------------------ dead links, no JavaScript


async def test_revoked_used_and_unknown_links_get_the_same_words(
    console: Console, browser: Browser, page: Page
) -> None:
    api = console.api
    await invite(api.authz, "a", "rex")
    revoked = await secret_of(api.database_url, "a", "rex")
    await invitations(api.authz).RevokeInvitation(ipb.InvitationRequest(account="a", user="rex"))
    unknown = f"inv_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    shown: list[str] = []
    for secret in (revoked, unknown, "inv_short", "not a secret at all"):
        await page.goto(console.at(f"/invitations/accept#{secret}"))
        # The second link onwards only changes this page's fragment: the script takes it too.
        await page.wait_for_function("location.hash === ''")
        await page.get_by_text("Your invitation link is ready").wait_for()
        assert await accept_in(page) == 401
        error = page.get_by_role("alert")
        shown.append(await error.inner_text())
        assert secret not in page.url
        assert secret not in await page.content()  # not echoed into the form either
    assert shown == [INVALID] * 4
    await screenshot(page, "invitation-revoked")
    # Nothing happened to rex: still invited, and a resend brings a working link.
    listed = await invitations(api.authz).ListInvitations(ipb.ListInvitationsRequest(account="a"))
    assert [(n.user, n.state) for n in listed.invitations] == [
        ("rex", ipb.INVITATION_STATE_REVOKED)
    ]


async def test_without_javascript_the_person_pastes_the_link(
    console: Console, browser: Browser
) -> None:
    api = console.api
    await invite(api.authz, "a", "nora")
    secret = await secret_of(api.database_url, "a", "nora")
    context = await browser.new_context(java_script_enabled=False)
    try:
        page = await context.new_page()
        await page.goto(console.at("/invitations/accept"))
        await page.get_by_text("Paste the link from your invitation email").wait_for()
        # Without the script the fragment stays where it is and is not used; the pasted
        # link (with spaces around it, as copied from a mail) is.
        await page.get_by_label("Invitation link or secret").fill(
            f"  {console.at('/invitations/accept#' + secret)}\n"
        )
        await screenshot(page, "invitation-paste-nojs")
        assert await accept_in(page) == 200
        await page.get_by_role("heading", name="Welcome, Nora").wait_for()
        token = (await page.locator("#new-token").text_content() or "").strip()
        assert TOKEN.fullmatch(token)
        await page.get_by_role("button", name="Sign in with it").click()
        await page.wait_for_url(console.at("/events"))
        assert (await page.locator(".me").inner_text()).startswith("nora")
        # The hand-off is spent: the same button again (a replayed form) signs in no one.
        await page.goto(console.at("/invitations/accept"))
        response = await context.request.post(
            console.at("/invitations/signin"),
            form={"csrf": await page.locator("#accept input[name=csrf]").input_value()},
        )
        assert "That sign-in offer expired" in await response.text()
    finally:
        await context.close()


async def test_a_forged_accept_is_refused_and_uses_up_nothing(
    console: Console, context: BrowserContext, page: Page
) -> None:
    api = console.api
    await invite(api.authz, "a", "otto")
    secret = await secret_of(api.database_url, "a", "otto")
    await page.goto(console.at("/invitations/accept"))  # the CSRF cookie is set
    for extra in ({}, {"csrf": "not-the-token"}):
        response = await context.request.post(
            console.at("/invitations/accept"), form={"secret": secret, **extra}
        )
        assert response.status == 403
        assert "The form expired" in await response.text()
        assert secret not in await response.text()
    # "Sign in with it" without its form token, or without an accepted invitation: nothing.
    response = await context.request.post(console.at("/invitations/signin"), form={})
    assert response.status == 403
    listed = await invitations(api.authz).ListInvitations(ipb.ListInvitationsRequest(account="a"))
    assert [(n.user, n.state) for n in listed.invitations] == [
        ("otto", ipb.INVITATION_STATE_PENDING)
    ]
    await page.goto(console.at(f"/invitations/accept#{secret}"))
    assert await accept_in(page) == 200
    await page.get_by_role("heading", name="Welcome, Otto").wait_for()


# ------------------------------------------------------------------ the rate limit


@pytest.fixture
async def limited(database_url: str) -> AsyncIterator[Site]:
    """authz allowing 2 accepts per address (then one an hour), trusting the console's
    address as a proxy, and the console in front of it."""
    settings = settings_for(
        database_url,
        invitation_accept_burst=2,
        invitation_accept_per_minute=1 / 60,
        trusted_proxies="127.0.0.1/32",
    )
    async with running_server(settings) as server:
        console_settings = ConsoleSettings(
            port=free_port(),
            authz_target=f"127.0.0.1:{server.port}",
            audit_target=f"127.0.0.1:{free_port()}",  # not called by these pages
        )
        async with running_console(console_settings) as url:
            yield Site(url)


def post_from(source: str, console: Site, secret: str) -> tuple[int, str]:
    """An accept sent from another loopback address (another 'browser'): GET the form for its
    CSRF cookie and token, then POST it."""
    netloc = urllib.parse.urlsplit(console.url).netloc
    host, port = netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", "/invitations/accept")
        page = connection.getresponse()
        body = page.read().decode()
        cookie = (page.getheader("set-cookie") or "").split(";", 1)[0]
        match = re.search(r'name="csrf" value="([^"]+)"', body)
        assert match is not None
        form = urllib.parse.urlencode({"csrf": match.group(1), "secret": secret})
        headers = {"content-type": "application/x-www-form-urlencoded", "cookie": cookie}
        connection.request("POST", "/invitations/accept", body=form, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


async def test_the_rate_limit_is_said_in_words_per_browser_address(
    limited: Site, page: Page, database_url: str
) -> None:
    console = limited
    wrong = f"inv_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    for _ in range(2):
        await page.goto(console.at(f"/invitations/accept#{wrong}"))
        assert await accept_in(page) == 401
        await page.get_by_text(INVALID).wait_for()
    await page.goto(console.at(f"/invitations/accept#{wrong}"))
    assert await accept_in(page) == 429
    assert await page.get_by_role("alert").inner_text() == RATE_LIMITED
    await screenshot(page, "invitation-rate-limited")
    # Another address has a bucket of its own: the console passed on the browser's address.
    status, body = await asyncio.to_thread(post_from, "127.0.0.2", console, wrong)
    assert status == 401
    assert INVALID.split(".")[0] in body
    denied = [
        e for e in await audit_events(database_url)
        if e.action == ev.ACTION_ACCESS_DENIED and e.resource.type == "INVITATION"
    ]  # fmt: skip
    assert {e.request.client_ip for e in denied} == {"127.0.0.1", "127.0.0.2"}
