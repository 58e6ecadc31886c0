"""The mailer without services: the email an invitation becomes, and what it retries."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from authz.v1 import notifications_pb2 as npb
from services.mailer.mailer import Mailer
from services.mailer.messages import invitation_email
from services.mailer.settings import MailerSettings

SECRET = "inv_0123456789abcdef_" + "S" * 43
URL = f"https://console.example.com/invitations/accept#{SECRET}"


def notification(**fields: Any) -> npb.Notification:
    invitation = npb.InvitationNotification(
        account="acme",
        user="alice",
        email="alice@example.com",
        display_name="Alice",
        inviter="admin",
        secret=SECRET,
        accept_url=URL,
        **fields,
    )
    invitation.expires_at.FromDatetime(datetime(2030, 1, 2, 3, 4, tzinfo=UTC))
    return npb.Notification(notification_id="n1", account="acme", invitation=invitation)


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def test_the_mail_has_a_text_and_an_html_body_with_the_link_and_the_cli_line() -> None:
    message = invitation_email(notification().invitation, "authz <no-reply@x>", "authz:443")
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "You are invited to join acme"
    text, html = bodies(message)
    assert URL in text
    assert f'href="{URL}"' in html
    for body in (text, html):
        assert "authz.v1.InvitationService/AcceptInvitation" in body
        assert SECRET in body  # the grpcurl line: accepting without the console
        assert "2030-01-02 03:04 UTC" in body


@given(st.text(min_size=1, max_size=60))
def test_every_value_is_escaped_in_the_html(name: str) -> None:
    invitation = notification().invitation
    invitation.display_name = name + "<script>"
    invitation.inviter = '"><img src=x>'
    _, html = bodies(invitation_email(invitation, "a@b", "t"))
    assert "<script>" not in html
    assert "<img" not in html


class FakeSmtp:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.sent: list[EmailMessage] = []
        self.sleeps: list[float] = []

    async def send(self, message: EmailMessage, **_: Any) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_a_mail_server_away_is_retried_with_backoff_until_it_takes_the_mail() -> None:
    smtp = FakeSmtp(
        [
            aiosmtplib.SMTPConnectError("refused"),
            ConnectionResetError(),
            aiosmtplib.SMTPResponseException(421, "busy"),
            aiosmtplib.SMTPAuthenticationError(535, "bad credentials"),  # the operator fixes it
        ]
    )
    mailer = Mailer(MailerSettings(retry_initial_s=1, retry_max_s=4), smtp.send, smtp.sleep)
    assert await mailer.deliver(notification())
    assert len(smtp.sent) == 1
    assert smtp.sleeps == [1, 2, 4, 4]


async def test_a_mail_refused_for_good_is_not_retried() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "alice@example.com")]
    )
    for error in (refused, aiosmtplib.SMTPDataError(554, "rejected")):
        smtp = FakeSmtp([error])
        mailer = Mailer(MailerSettings(), smtp.send, smtp.sleep)
        assert not await mailer.deliver(notification())
        assert smtp.sent == []
        assert smtp.sleeps == []


async def test_other_notifications_are_not_mailed() -> None:
    smtp = FakeSmtp([])
    assert not await Mailer(MailerSettings(), smtp.send, smtp.sleep).deliver(npb.Notification())
    assert smtp.sent == []


async def test_health_is_bad_while_a_mail_waits_too_long_for_smtp() -> None:
    now = [1000.0]
    reports: list[tuple[bool, float]] = []
    smtp = FakeSmtp([ConnectionRefusedError()] * 3)

    async def sleep(seconds: float) -> None:  # the retry's wait, on the injected clock
        healthy, details = await mailer.health()
        reports.append((healthy, float(str(details["smtp_failing_for_s"]))))
        now[0] += seconds

    settings = MailerSettings(retry_initial_s=100, retry_max_s=200, health_max_failing_s=250)
    mailer = Mailer(settings, smtp.send, sleep, lambda: now[0])
    assert not (await mailer.health())[0]  # the consumer has not started
    mailer.consuming = True
    assert (await mailer.health())[0]
    assert await mailer.deliver(notification())
    # Failing since the first attempt: 0 s, 100 s, 300 s (past 250: unhealthy).
    assert reports == [(True, 0.0), (True, 100.0), (False, 300.0)]
    healthy, details = await mailer.health()
    assert healthy
    assert details["sent"] == 1
    assert details["smtp_failing_for_s"] == 0.0


def mails(result: str) -> float:
    return REGISTRY.get_sample_value("mailer_mails_total", {"result": result}) or 0.0


def smtp_failures() -> float:
    return REGISTRY.get_sample_value("mailer_smtp_failures_total") or 0.0


async def test_the_metrics_count_mails_by_result_and_failed_attempts() -> None:
    sent, refused, failures = mails("sent"), mails("refused"), smtp_failures()
    smtp = FakeSmtp([ConnectionResetError(), aiosmtplib.SMTPResponseException(421, "busy")])
    assert await Mailer(MailerSettings(), smtp.send, smtp.sleep).deliver(notification())
    smtp = FakeSmtp([aiosmtplib.SMTPDataError(554, "rejected")])
    assert not await Mailer(MailerSettings(), smtp.send, smtp.sleep).deliver(notification())
    assert (mails("sent") - sent, mails("refused") - refused) == (1, 1)
    assert smtp_failures() - failures == 2
