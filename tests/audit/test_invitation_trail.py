"""The invitation steps in the audit trail: the events authz writes for invite, resend, revoke,
accept, expiry and a failed accept, stored as the projector stores them, found by the query
API's action filter, naming inviter and invitee, and holding no secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest

from audit.v1 import event_pb2 as ev
from audit.v1 import query_pb2 as q
from authz.v1 import invitations_pb2 as ipb
from services.audit.event_decoding import record_from_event
from tests.audit.query_fixtures import QueryApi, store
from tests.authz.invitation_helpers import (
    Clock,
    anonymous_invitations,
    audit_events,
    invitations,
    invite,
    secret_of,
)

pytestmark = pytest.mark.integration

STEPS = [
    ev.ACTION_INVITE,
    ev.ACTION_INVITE_RESEND,
    ev.ACTION_INVITE_REVOKE,
    ev.ACTION_INVITE_ACCEPT,
    ev.ACTION_INVITE_EXPIRE,
]


async def test_every_step_is_in_the_trail_and_the_action_filter_finds_it(api: QueryApi) -> None:
    authz, url = api.authz, api.database_url
    clock = Clock(datetime.now(UTC))
    authz.server.invitations.clock = clock
    stub = invitations(authz)
    await invite(authz, "a", "alice")
    await invite(authz, "a", "bob")
    await stub.ResendInvitation(ipb.InvitationRequest(account="a", user="alice"))
    await stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="alice"))
    await stub.ResendInvitation(ipb.InvitationRequest(account="a", user="alice"))
    secrets = [await secret_of(url, "a", "alice")]
    channel, anonymous = anonymous_invitations(authz.server.port)
    try:
        await anonymous.AcceptInvitation(ipb.AcceptInvitationRequest(secret=secrets[0]))
        with pytest.raises(grpc.aio.AioRpcError):  # used: a failed attempt
            await anonymous.AcceptInvitation(ipb.AcceptInvitationRequest(secret=secrets[0]))
    finally:
        await channel.close(None)
    secrets.append(await secret_of(url, "a", "bob"))
    clock.now += timedelta(days=8)
    assert await authz.server.invitations.expire_due() == 1  # bob's

    events = await audit_events(url)
    await store(url, [record_from_event(e) for e in events])
    scope = [q.ScopeFilter(scope="a")]
    found = await api.stub.ListEvents(
        q.ListEventsRequest(
            filter=q.EventFilter(scopes=scope, preset=q.TIME_PRESET_LAST_24_HOURS, actions=STEPS),
            page_size=100,
        ),
        metadata=api.admin,
    )
    steps = sorted((e.action, e.resource.identifier) for e in found.events)
    assert steps == sorted(
        [
            (ev.ACTION_INVITE, "alice"),
            (ev.ACTION_INVITE, "bob"),
            (ev.ACTION_INVITE_RESEND, "alice"),
            (ev.ACTION_INVITE_RESEND, "alice"),
            (ev.ACTION_INVITE_REVOKE, "alice"),
            (ev.ACTION_INVITE_ACCEPT, "alice"),
            (ev.ACTION_INVITE_EXPIRE, "bob"),
        ]
    )
    for event in found.events:
        assert event.resource.type == "INVITATION"
        assert event.resource.labels["inviter"] == "admin"
        assert event.resource.labels["invitee"] == event.resource.identifier
    principals = {e.action: e.principal.identifier for e in found.events}
    assert principals[ev.ACTION_INVITE_ACCEPT] == "alice"  # the invitee accepted
    assert principals[ev.ACTION_INVITE_EXPIRE] == "authz"  # SYSTEM
    denied = await api.stub.ListEvents(
        q.ListEventsRequest(
            filter=q.EventFilter(
                scopes=scope,
                preset=q.TIME_PRESET_LAST_24_HOURS,
                actions=[ev.ACTION_ACCESS_DENIED],
                resource_types=["INVITATION"],
            ),
        ),
        metadata=api.admin,
    )
    assert [e.resource.labels["reason"] for e in denied.events] == ["accepted"]
    # No stored row holds a secret, in any column.
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT row_to_json(e)::text AS row FROM audit_events e")
    finally:
        await conn.close()
    assert rows
    for secret in secrets:
        part = secret.split("_", 2)[2]
        assert all(part not in r["row"] for r in rows)
