"""Delivers authz's notifications by email: a Kafka consumer of the notifications topic that
sends each invitation through SMTP (aiosmtplib) and commits its offset only once the SMTP
server accepted the mail.

Why a consumer of the topic (and not a hook in the outbox relay): the topic is the published
contract (third parties deliver the same notifications their own way), the relay stays a
relay, and a mail server that is away only delays mail: the consumer retries the same record
with backoff and moves on only after the mail is sent, or refused for good (a 5xx answer such
as an unknown recipient: logged and skipped, it would be refused again). Delivery is at least
once: a crash between the SMTP answer and the commit sends that mail twice.

Logs name the account, the user and the notification id; never the secret or the link."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError

from authz.v1 import notifications_pb2 as pb
from libs.events.topics import TopicSettings, ensure_topics, spec_for
from services.mailer import metrics
from services.mailer.messages import invitation_email
from services.mailer.settings import MailerSettings

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[Any]]


def refused_for_good(error: Exception) -> bool:
    """An SMTP answer that the same mail would get again (5xx), but for authentication, which
    an operator fixes in the settings: such mail waits too."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return True
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return False
    return isinstance(error, aiosmtplib.SMTPResponseException) and 500 <= error.code < 600


class Mailer:
    def __init__(
        self,
        settings: MailerSettings,
        send: Send = aiosmtplib.send,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._send = send
        self._sleep = sleep
        self._monotonic = monotonic
        self.sent = 0
        self.refused = 0
        self.consuming = False  # the Kafka consumer started and has not stopped
        self.failing_since: float | None = None  # the mail in hand first failed to go then

    async def health(self) -> tuple[bool, dict[str, object]]:
        """For GET /health (libs.health_http): healthy while the consumer runs and no mail has
        waited for the SMTP server longer than MAILER_HEALTH_MAX_FAILING_S. It cannot tell a
        Kafka outage from a quiet topic: both are nothing to deliver."""
        since = self.failing_since
        failing = 0.0 if since is None else self._monotonic() - since
        healthy = self.consuming and failing <= self.settings.health_max_failing_s
        return healthy, {
            "consuming": self.consuming,
            "sent": self.sent,
            "refused": self.refused,
            "smtp_failing_for_s": round(failing, 1),
        }

    async def _smtp(self, message: EmailMessage) -> None:
        s = self.settings
        await self._send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password.get_secret_value() or None,
            use_tls=s.smtp_security == "tls",
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout_s,
        )

    async def deliver(self, note: pb.Notification) -> bool:
        """Send the notification's mail, retrying until the SMTP server takes it; False when it
        is refused for good (or is of a kind this mailer does not deliver)."""
        if note.WhichOneof("kind") != "invitation":
            metrics.REFUSED.inc()
            return False
        invitation = note.invitation
        message = invitation_email(
            invitation, self.settings.mail_from, self.settings.authz_public_target
        )
        what = f"invitation of {invitation.user!r} to {invitation.account!r}"
        delay = self.settings.retry_initial_s
        while True:
            try:
                await self._smtp(message)
            except (aiosmtplib.SMTPException, OSError) as error:
                if refused_for_good(error):
                    log.error(
                        "%s (%s) refused: %s", what, note.notification_id, type(error).__name__
                    )
                    metrics.REFUSED.inc()
                    self.refused += 1
                    self.failing_since = None
                    return False
                metrics.SMTP_FAILURES.inc()
                if self.failing_since is None:
                    self.failing_since = self._monotonic()
                log.warning(
                    "%s (%s) not sent (%s); retrying in %.0f s",
                    what,
                    note.notification_id,
                    type(error).__name__,
                    delay,
                )
                await self._sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
                continue
            self.sent += 1
            metrics.SENT.inc()
            self.failing_since = None
            log.info("%s sent (%s)", what, note.notification_id)
            return True

    async def run(self) -> None:
        """Consume and deliver until cancelled."""
        s = self.settings
        await ensure_topics(s.kafka_bootstrap_servers, [spec_for(s.topic, TopicSettings())])
        consumer = AIOKafkaConsumer(
            s.topic,
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # what was published before the first start, too
        )
        await consumer.start()
        self.consuming = True
        try:
            async for record in consumer:
                try:
                    note = pb.Notification.FromString(record.value or b"")
                except DecodeError:
                    metrics.UNDECODABLE.inc()
                    log.error(
                        "undecodable record at %s/%d offset %d: skipped",
                        record.topic,
                        record.partition,
                        record.offset,
                    )
                else:
                    await self.deliver(note)
                partition = TopicPartition(record.topic, record.partition)
                await consumer.commit({partition: record.offset + 1})
        finally:
            self.consuming = False
            await consumer.stop()
