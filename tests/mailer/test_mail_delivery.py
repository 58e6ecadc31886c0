"""The whole flow on the real services and a real SMTP server (aiosmtpd, in this process):
InviteUser -> authz's outbox -> relay -> Kafka -> the mailer -> SMTP -> the link in the mail ->
AcceptInvitation -> a working token whose bindings decide. The secret is in the mail and
nowhere else: not in the audit events on Kafka, not in the logs, not left in the outbox."""

from __future__ import annotations

import logging
import re

import asyncpg
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from services.authz.server import running_server
from services.mailer.mailer import Mailer
from services.mailer.settings import MailerSettings
from tests.authz.clients import Authz, bind, connect, settings_for, user
from tests.authz.invitation_helpers import anonymous_invitations, invite
from tests.harness.services import read_topic
from tests.mailer.smtp_inbox import Inbox, inbox, task_of

__all__ = ["inbox"]  # a fixture

pytestmark = pytest.mark.integration

CONSOLE = "https://console.example.com"
LINK = re.compile(re.escape(CONSOLE) + r"/invitations/accept#(inv_[0-9a-f]{16}_[A-Za-z0-9_-]{43})")


async def accept(port: int, secret: str) -> ipb.AcceptInvitationResponse:
    channel, stub = anonymous_invitations(port)
    try:
        return await stub.AcceptInvitation(ipb.AcceptInvitationRequest(secret=secret))
    finally:
        await channel.close(None)


async def test_invite_mail_link_accept_token(
    database_url: str,
    kafka_bootstrap: str,
    unique_name: str,
    inbox: tuple[Inbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mails, smtp_port = inbox
    audit_topic, notes_topic = f"audit-{unique_name}", f"notes-{unique_name}"
    settings = settings_for(
        database_url,
        run_relay=True,
        kafka_bootstrap_servers=kafka_bootstrap,
        audit_topic=audit_topic,
        notifications_topic=notes_topic,
        console_url=CONSOLE + "/",
    )
    mailer = Mailer(
        MailerSettings(
            kafka_bootstrap_servers=kafka_bootstrap,
            topic=notes_topic,
            group_id=unique_name,
            smtp_port=smtp_port,
            mail_from="authz <no-reply@example.com>",
        )
    )
    async with running_server(settings) as server:
        admin = await connect(server)
        try:
            with task_of(mailer.run()):
                await flow(server.port, admin, mails, database_url)
        finally:
            await admin.channel.close(None)
    records = await read_topic(kafka_bootstrap, audit_topic, expected=3)
    actions = [ev.AuditEvent.FromString(r.value or b"").action for r in records]
    assert ev.ACTION_INVITE in actions
    assert ev.ACTION_INVITE_ACCEPT in actions
    secret_part = mails.messages[0]["X-Test-Secret"] or ""
    assert secret_part
    assert all(secret_part.encode() not in (r.value or b"") for r in records)
    # Every log line of this process but the test's own SMTP server (which receives the mail).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert ours
    assert all(secret_part not in line for line in ours)


async def flow(port: int, admin: Authz, mails: Inbox, database_url: str) -> None:
    await invite(admin, "a", "alice")
    await bind(
        admin, "a/o/p", "b1", user("alice"), "_pipeline_executor", "_all_project_level_resources"
    )
    mail = await mails.next()
    assert mail["To"] == "alice@example.com"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None
    assert html is not None
    found = LINK.search(str(text.get_content()))
    assert found is not None, text.get_content()
    assert f'href="{found.group(0)}"' in str(html.get_content())
    secret = found.group(1)
    mail["X-Test-Secret"] = secret.split("_", 2)[2]  # for the checks after the server stopped

    accepted = await accept(port, secret)
    alice = await connect(admin.server, accepted.token)
    try:
        allowed = await alice.access.Check(
            pb.CheckRequest(
                principal=user("alice"),
                resource_scope="a/o/p",
                resource_type="PIPELINE",
                resource_identifier="deploy",
                permission="core_pipeline_execute",
            )
        )
        assert allowed.allowed
    finally:
        await alice.channel.close(None)
    # Sent notifications do not keep their secret in the database.
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox WHERE erase_when_sent")
        assert rows
        assert all(bytes(r["payload"]) == b"" for r in rows)
    finally:
        await conn.close()
