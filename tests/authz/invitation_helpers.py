"""Shared by the invitation tests: stubs, invitations, and what the outbox holds (the secret of a
notification, the audit events), read as a third party would read the published records."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import grpc

from audit.v1 import event_pb2 as ev
from authz.v1 import invitations_pb2 as ipb
from authz.v1 import invitations_pb2_grpc as ipb_grpc
from authz.v1 import notifications_pb2 as npb
from libs.events.topics import NOTIFICATIONS_TOPIC
from tests.authz.clients import Authz


def invitations(authz: Authz) -> ipb_grpc.InvitationServiceAsyncStub:
    return ipb_grpc.InvitationServiceStub(authz.channel)


def anonymous_invitations(
    port: int,
) -> tuple[grpc.aio.Channel, ipb_grpc.InvitationServiceAsyncStub]:
    """A client with no token at all: how an invitee reaches AcceptInvitation."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    return channel, ipb_grpc.InvitationServiceStub(channel)


async def invite(
    authz: Authz, account: str, user: str, groups: tuple[tuple[str, str], ...] = ()
) -> ipb.InvitationResponse:
    return await invitations(authz).InviteUser(
        ipb.InviteUserRequest(
            account=account,
            user=user,
            email=f"{user}@example.com",
            display_name=user.title(),
            user_groups=[ipb.GroupRef(scope=s, identifier=i) for s, i in groups],
        )
    )


async def notifications(database_url: str) -> list[npb.Notification]:
    """Every notification in the outbox, oldest first (the relay is off in these tests)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", NOTIFICATIONS_TOPIC
        )
    finally:
        await conn.close()
    return [npb.Notification.FromString(r["payload"]) for r in rows]


async def secret_of(database_url: str, account: str, user: str) -> str:
    """The secret of the newest invitation notification for that user."""
    found = [
        n.invitation.secret
        for n in await notifications(database_url)
        if (n.invitation.account, n.invitation.user) == (account, user)
    ]
    assert found, f"no notification for {account}/{user}"
    return found[-1]


async def audit_events(database_url: str) -> list[ev.AuditEvent]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE topic <> $1 ORDER BY id", NOTIFICATIONS_TOPIC
        )
    finally:
        await conn.close()
    return [ev.AuditEvent.FromString(r["payload"]) for r in rows]


async def outbox_bytes(database_url: str) -> bytes:
    """Every audit event's bytes, for looking for a secret in them."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT payload, headers::text AS headers FROM outbox WHERE topic <> $1",
            NOTIFICATIONS_TOPIC,
        )
    finally:
        await conn.close()
    return b"".join(bytes(r["payload"]) + r["headers"].encode() for r in rows)


class Clock:
    """An injected clock: time moves only when the test says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
