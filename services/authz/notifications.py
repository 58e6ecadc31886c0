"""Notifications for people (proto/authz/v1/notifications.proto) into the outbox, in the
write's transaction: the relay publishes them like the audit events. The invitation secret
travels only here; the outbox row is erased once Kafka has it (libs/outbox: erase_when_sent)."""

from __future__ import annotations

from datetime import UTC, datetime

import uuid6

from authz.v1 import notifications_pb2 as pb
from libs.events.topics import NOTIFICATIONS_TOPIC
from libs.outbox.writer import add_to_outbox
from services.authz.domain.invitations import Invitation
from services.authz.store.repository import Conn

SCHEMA_VERSION = 1
CONTENT_TYPE = "application/x-protobuf; messageType=authz.v1.Notification"


def accept_url(console_url: str, secret: str) -> str:
    """The console's accept page; the secret rides in the fragment, which browsers never send
    to a server (nor put in a Referer)."""
    return f"{console_url.rstrip('/')}/invitations/accept#{secret}"


def invitation_notification(
    invitation: Invitation, secret: str, console_url: str, occurred_at: datetime
) -> pb.Notification:
    note = pb.Notification(
        notification_id=str(uuid6.uuid7()),
        account=invitation.account,
        schema_version=SCHEMA_VERSION,
        invitation=pb.InvitationNotification(
            account=invitation.account,
            user=invitation.user,
            email=invitation.email,
            display_name=invitation.display_name,
            inviter=invitation.inviter.identifier,
            inviter_email=invitation.inviter.email,
            secret=secret,
            accept_url=accept_url(console_url, secret),
            resent=invitation.sends > 1,
        ),
    )
    note.occurred_at.FromDatetime(occurred_at.astimezone(UTC))
    note.invitation.expires_at.FromDatetime(invitation.expires_at.astimezone(UTC))
    return note


class OutboxNotifications:
    def __init__(self, console_url: str, topic: str = NOTIFICATIONS_TOPIC) -> None:
        self.console_url = console_url
        self.topic = topic

    async def invitation(
        self, conn: Conn, invitation: Invitation, secret: str, now: datetime
    ) -> None:
        note = invitation_notification(invitation, secret, self.console_url, now)
        await add_to_outbox(
            conn,
            event_id=note.notification_id,
            topic=self.topic,
            key=note.account.encode(),
            payload=note.SerializeToString(),
            headers={"content-type": CONTENT_TYPE, "notification-id": note.notification_id},
            erase_when_sent=True,
        )
