"""Invitations against a real authz server and PostgreSQL: invite, accept without a token, what
an invited user may do before (nothing) and after (what its bindings say), expiry with an
injected clock, resend, revoke, reuse, other tenants, rate limiting, and the secret never
leaving the notification. The mail itself: tests/mailer/test_mail_delivery.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from services.authz.domain.rate_limit import RateLimiter
from services.authz.server import running_server
from tests.authz.clients import (
    Authz,
    admin_token,
    bind,
    connect,
    create_user,
    settings_for,
    user,
    user_token,
)
from tests.authz.invitation_helpers import (
    Clock,
    anonymous_invitations,
    audit_events,
    invitations,
    invite,
    notifications,
    outbox_bytes,
    secret_of,
)

pytestmark = pytest.mark.integration

EVERYTHING = "_all_resources_including_child_scopes"
INVALID = "the invitation is invalid, expired, revoked or already used"


async def accept(port: int, secret: str, account: str = "") -> ipb.AcceptInvitationResponse:
    channel, stub = anonymous_invitations(port)
    try:
        return await stub.AcceptInvitation(
            ipb.AcceptInvitationRequest(secret=secret, account=account)
        )
    finally:
        await channel.close(None)


async def refused(port: int, secret: str, account: str = "") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await accept(port, secret, account)
    return info.value


def check(principal: str, permission: str = "core_pipeline_execute") -> pb.CheckRequest:
    return pb.CheckRequest(
        principal=user(principal),
        resource_scope="a/o/p",
        resource_type="PIPELINE",
        resource_identifier="deploy",
        permission=permission,
    )


async def test_invite_accept_and_the_token_works(authz: Authz, database_url: str) -> None:
    port = authz.server.port
    answer = await invite(authz, "a", "alice")
    assert answer.invitation.state == ipb.INVITATION_STATE_PENDING
    assert answer.invitation.inviter.identifier == "admin"
    got = await authz.users.GetUser(pb.GetRequest(scope="a", identifier="alice"))
    assert got.user.state == pb.USER_STATE_INVITED
    await bind(
        authz, "a/o/p", "b1", user("alice"), "_pipeline_executor", "_all_project_level_resources"
    )
    assert not (await authz.access.Check(check("alice"))).allowed

    secret = await secret_of(database_url, "a", "alice")
    accepted = await accept(port, secret, "a")
    assert accepted.user.state == pb.USER_STATE_ACTIVE
    assert accepted.api_key.owner.identifier == "alice"
    # The token works, as alice, and her binding now decides.
    alice = await connect(authz.server, accepted.token)
    try:
        me = await alice.access.WhoAmI(pb.WhoAmIRequest())
        assert (me.principal.identifier, me.email) == ("alice", "alice@example.com")
        assert (await alice.access.Check(check("alice"))).allowed
        assert not (await alice.access.Check(check("alice", "core_pipeline_delete"))).allowed
    finally:
        await alice.channel.close(None)
    assert (await authz.access.Check(check("alice"))).allowed
    listed = await invitations(authz).ListInvitations(ipb.ListInvitationsRequest(account="a"))
    assert [i.state for i in listed.invitations] == [ipb.INVITATION_STATE_ACCEPTED]

    actions = [(e.action, e.principal.identifier) for e in await audit_events(database_url)]
    assert (ev.ACTION_INVITE, "admin") in actions
    assert (ev.ACTION_INVITE_ACCEPT, "alice") in actions
    accepted_event = next(
        e for e in await audit_events(database_url) if e.action == ev.ACTION_INVITE_ACCEPT
    )
    assert accepted_event.resource.type == "INVITATION"
    assert dict(accepted_event.resource.labels)["inviter"] == "admin"
    assert dict(accepted_event.resource.labels)["invitee"] == "alice"


async def test_an_invited_user_is_denied_everywhere_until_it_accepts(
    authz: Authz, database_url: str
) -> None:
    port = authz.server.port
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier="admins"))
    )
    await bind(
        authz,
        "a",
        "admins-b",
        pb.Principal(type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier="admins", scope="a"),
        "_account_admin",
        "_all_resources_including_child_scopes",
    )
    await invite(authz, "a", "bob", groups=(("a", "admins"),))
    await bind(
        authz,
        "a/o/p",
        "bob-direct",
        user("bob"),
        "_pipeline_executor",
        "_all_project_level_resources",
    )
    group = await authz.groups.GetUserGroup(pb.GetRequest(scope="a", identifier="admins"))
    assert list(group.user_group.members) == ["bob"]  # grouped, like any user

    # No decision grants bob anything: direct binding, group binding, any question.
    assert not (await authz.access.Check(check("bob"))).allowed
    for permission in ("core_user_view", "core_user_invite", "core_pipeline_execute"):
        request = check("bob", permission)
        request.resource_scope = "a"
        request.resource_identifier = ""
        request.resource_type = permission.split("_")[1].upper()
        assert not (await authz.access.Check(request)).allowed
    explained = await authz.access.Explain(check("bob"))
    assert not explained.allowed
    assert not explained.grants
    effective = await authz.access.ListEffectivePermissions(
        pb.ListEffectivePermissionsRequest(principal=user("bob"), scope="a/o/p")
    )
    assert list(effective.permissions) == []
    # A token of the invited user (issued on the operator's path) authenticates no one.
    token = await user_token(authz.server, "a", "bob")
    bob = await connect(authz.server, token)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await bob.access.WhoAmI(pb.WhoAmIRequest())
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await bob.channel.close(None)

    accepted = await accept(port, await secret_of(database_url, "a", "bob"))
    bob = await connect(authz.server, accepted.token)
    try:
        assert (await bob.access.Check(check("bob"))).allowed
        # Through the group: an account administrator now.
        listed = await bob.users.ListUsers(pb.ListRequest(scope="a"))
        assert "bob" in [u.identifier for u in listed.users]
    finally:
        await bob.channel.close(None)
    assert (await authz.access.Explain(check("bob"))).grants


async def test_expiry_with_an_injected_clock(authz: Authz, database_url: str) -> None:
    port = authz.server.port
    clock = Clock(datetime.now(UTC))
    authz.server.invitations.clock = clock
    await invite(authz, "a", "carol")
    secret = await secret_of(database_url, "a", "carol")
    assert await authz.server.invitations.expire_due() == 0
    clock.now += timedelta(days=7, seconds=1)  # the default lifetime: 7 days

    error = await refused(port, secret)
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, INVALID)
    stub = invitations(authz)
    expired = await stub.ListInvitations(
        ipb.ListInvitationsRequest(account="a", states=[ipb.INVITATION_STATE_EXPIRED])
    )
    assert [i.user for i in expired.invitations] == ["carol"]
    pending = await stub.ListInvitations(
        ipb.ListInvitationsRequest(account="a", states=[ipb.INVITATION_STATE_PENDING])
    )
    assert list(pending.invitations) == []
    # The sweep records the expiry once, as an audit event naming inviter and invitee.
    assert await authz.server.invitations.expire_due() == 1
    assert await authz.server.invitations.expire_due() == 0
    events = [e for e in await audit_events(database_url) if e.action == ev.ACTION_INVITE_EXPIRE]
    assert len(events) == 1
    assert dict(events[0].resource.labels) == {"inviter": "admin", "invitee": "carol"}
    # A resend brings it back with a new lifetime.
    await stub.ResendInvitation(ipb.InvitationRequest(account="a", user="carol"))
    assert (await accept(port, await secret_of(database_url, "a", "carol"))).token


async def test_resend_kills_the_old_secret(authz: Authz, database_url: str) -> None:
    port = authz.server.port
    await invite(authz, "a", "dave")
    old = await secret_of(database_url, "a", "dave")
    resent = await invitations(authz).ResendInvitation(
        ipb.InvitationRequest(account="a", user="dave")
    )
    assert resent.invitation.sends == 2
    new = await secret_of(database_url, "a", "dave")
    assert new != old
    assert (await refused(port, old)).details() == INVALID
    assert (await accept(port, new)).token
    assert (await refused(port, new)).details() == INVALID  # used
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await invitations(authz).ResendInvitation(ipb.InvitationRequest(account="a", user="dave"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    notes = [n for n in await notifications(database_url) if n.invitation.user == "dave"]
    assert [n.invitation.resent for n in notes] == [False, True]


async def test_revoke(authz: Authz, database_url: str) -> None:
    port = authz.server.port
    stub = invitations(authz)
    await invite(authz, "a", "erin")
    secret = await secret_of(database_url, "a", "erin")
    revoked = await stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="erin"))
    assert revoked.invitation.state == ipb.INVITATION_STATE_REVOKED
    assert (await refused(port, secret)).details() == INVALID
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="erin"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    got = await authz.users.GetUser(pb.GetRequest(scope="a", identifier="erin"))
    assert got.user.state == pb.USER_STATE_INVITED
    # Deleting the user takes its invitation along; the identifier can be invited afresh.
    await authz.users.DeleteUser(pb.DeleteRequest(scope="a", identifier="erin"))
    listed = await stub.ListInvitations(ipb.ListInvitationsRequest(account="a"))
    assert list(listed.invitations) == []
    await invite(authz, "a", "erin")
    assert (await refused(port, secret)).details() == INVALID
    actions = [e.action for e in await audit_events(database_url)]
    assert actions.count(ev.ACTION_INVITE_REVOKE) == 1


async def test_every_bad_secret_gets_the_same_answer(authz: Authz, database_url: str) -> None:
    port = authz.server.port
    await invite(authz, "a", "frank")
    secret = await secret_of(database_url, "a", "frank")
    prefix = secret.split("_")[1]
    for bad in (
        "",
        "nonsense",
        "inv_" + "0" * 16 + "_" + "A" * 43,  # unknown prefix
        f"inv_{prefix}_" + "A" * 43,  # right prefix, wrong secret
        secret + "x",
        "x" * 10_000,
    ):
        error = await refused(port, bad)
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, INVALID)
        assert secret not in str(error.details())
    # A secret given with another account is refused alike, and stays usable for its own.
    assert (await refused(port, secret, "other")).details() == INVALID
    assert (await accept(port, secret, "a")).token
    # Failed attempts are audited without the secret, with their reason.
    denied = [e for e in await audit_events(database_url) if e.action == ev.ACTION_ACCESS_DENIED]
    reasons = {dict(e.resource.labels)["reason"] for e in denied}
    assert {"malformed", "unknown", "other_account"} <= reasons
    assert all(e.resource.type == "INVITATION" for e in denied)


async def test_the_secret_is_never_in_events_logs_or_answers(
    authz: Authz, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = authz.server.port
    stub = invitations(authz)
    answer = await invite(authz, "a", "gina")
    first = await secret_of(database_url, "a", "gina")
    await stub.ResendInvitation(ipb.InvitationRequest(account="a", user="gina"))
    second = await secret_of(database_url, "a", "gina")
    await refused(port, first)
    listed = await stub.ListInvitations(ipb.ListInvitationsRequest(account="a"))
    accepted = await accept(port, second)
    await refused(port, second)
    everything = await outbox_bytes(database_url)
    for secret in (first, second):
        part = secret.split("_", 2)[2]
        assert part.encode() not in everything
        assert part not in caplog.text
        assert part not in str(answer) + str(listed) + str(accepted.user) + str(accepted.api_key)
    assert accepted.token.split("_", 2)[2] not in caplog.text


async def test_permissions_and_tenancy(authz: Authz, database_url: str) -> None:
    server = authz.server
    # An account viewer may list but not invite.
    await create_user(authz, "a", "viewer")
    await bind(
        authz,
        "a",
        "viewer-b",
        user("viewer"),
        "_account_viewer",
        "_all_resources_including_child_scopes",
    )
    viewer = await connect(server, await user_token(server, "a", "viewer"))
    look_alike = await connect(server, await admin_token(server, "aXb"))
    other = await connect(server, await admin_token(server, "a_b"))
    await invite(authz, "a", "hank")
    try:
        listed = await invitations(viewer).ListInvitations(ipb.ListInvitationsRequest(account="a"))
        assert [i.user for i in listed.invitations] == ["hank"]
        for client in (viewer, look_alike, other):
            stub = invitations(client)
            calls: list[Any] = [
                stub.InviteUser(ipb.InviteUserRequest(account="a", user="ivan", email="i@x.org")),
                stub.ResendInvitation(ipb.InvitationRequest(account="a", user="hank")),
                stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="hank")),
                stub.ResendInvitation(ipb.InvitationRequest(account="a", user="nobody")),
            ]
            if client is not viewer:
                calls.append(stub.ListInvitations(ipb.ListInvitationsRequest(account="a")))
            for call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The other accounts' administrators invite into their own account only.
        await invite(look_alike, "aXb", "ivan")
        mine = await invitations(look_alike).ListInvitations(
            ipb.ListInvitationsRequest(account="aXb")
        )
        assert [i.user for i in mine.invitations] == ["ivan"]
        # Its secret opens aXb, not a.
        secret = await secret_of(database_url, "aXb", "ivan")
        assert (await refused(server.port, secret, "a")).details() == INVALID
        accepted = await accept(server.port, secret)
        assert accepted.api_key.scope == "aXb"
    finally:
        for client in (viewer, look_alike, other):
            await client.channel.close(None)


async def test_joining_a_group_needs_what_the_group_grants(authz: Authz) -> None:
    """No escalation: an inviter who manages groups but does not hold what a group's binding
    grants cannot put the invitee in it (as AddMember)."""
    server = authz.server
    await authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(
                scope="a",
                identifier="inviter",
                permissions=["core_user_invite", "core_usergroup_manage", "core_usergroup_view"],
            )
        )
    )
    await create_user(authz, "a", "ina")
    await bind(authz, "a", "ina-b", user("ina"), "inviter", "_all_resources_including_child_scopes")
    for name in ("plain", "powerful"):
        await authz.groups.CreateUserGroup(
            pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier=name))
        )
    await bind(
        authz,
        "a",
        "powerful-b",
        pb.Principal(type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier="powerful", scope="a"),
        "_account_admin",
        "_all_resources_including_child_scopes",
    )
    ina = await connect(server, await user_token(server, "a", "ina"))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await invite(ina, "a", "jo", groups=(("a", "powerful"),))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError):  # nothing half-written
            await authz.users.GetUser(pb.GetRequest(scope="a", identifier="jo"))
        await invite(ina, "a", "jo", groups=(("a", "plain"),))
    finally:
        await ina.channel.close(None)


async def test_reopening_a_revoked_invitation_needs_what_it_grants(
    authz: Authz, database_url: str
) -> None:
    """No escalation: an administrator invites someone into a group bound to _account_admin,
    then revokes the invitation. A resend reopens it (accepted, the user's memberships grant),
    so a caller who may invite but does not hold what they grant may not resend it; the
    administrator may. A resend of an open invitation grants nothing new: anyone who invites."""
    server = authz.server
    await authz.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(user_group=pb.UserGroup(scope="a", identifier="admins"))
    )
    admins = pb.Principal(type=pb.PRINCIPAL_TYPE_USER_GROUP, identifier="admins", scope="a")
    await bind(authz, "a", "admins-b", admins, "_account_admin", EVERYTHING)
    await invite(authz, "a", "zed", groups=(("a", "admins"),))
    await invite(authz, "a", "yan", groups=(("a", "admins"),))
    stub = invitations(authz)
    await stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="zed"))
    sent = len(await notifications(database_url))
    await authz.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="a", identifier="inviter", permissions=["core_user_invite"])
        )
    )
    await create_user(authz, "a", "ina")
    await bind(authz, "a", "ina-b", user("ina"), "inviter", EVERYTHING)
    ina = await connect(server, await user_token(server, "a", "ina"))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await invitations(ina).ResendInvitation(ipb.InvitationRequest(account="a", user="zed"))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
        assert len(await notifications(database_url)) == sent  # no new secret went out
        listed = await stub.ListInvitations(ipb.ListInvitationsRequest(account="a"))
        states = {i.user: i.state for i in listed.invitations}
        assert states["zed"] == ipb.INVITATION_STATE_REVOKED
        await invitations(ina).ResendInvitation(ipb.InvitationRequest(account="a", user="yan"))
    finally:
        await ina.channel.close(None)
    resent = await stub.ResendInvitation(ipb.InvitationRequest(account="a", user="zed"))
    assert resent.invitation.state == ipb.INVITATION_STATE_PENDING


async def test_bad_input_names_the_field(authz: Authz) -> None:
    stub = invitations(authz)
    cases = {
        "account": ipb.InviteUserRequest(account="a/o", user="x", email="x@y.z"),
        "user": ipb.InviteUserRequest(account="a", user="no spaces", email="x@y.z"),
        "email": ipb.InviteUserRequest(account="a", user="x", email=""),
        "display_name": ipb.InviteUserRequest(
            account="a", user="x", email="x@y.z", display_name="a\nb"
        ),
        "user_groups.scope": ipb.InviteUserRequest(
            account="a",
            user="x",
            email="x@y.z",
            user_groups=[ipb.GroupRef(scope="b", identifier="g")],
        ),
    }
    for field, request in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.InviteUser(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert str(info.value.details()).startswith(f"{field}:"), (field, info.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListInvitations(ipb.ListInvitationsRequest(account="a", states=[99]))  # type: ignore[list-item]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await invite(authz, "a", "kim")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await invite(authz, "a", "kim")
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_retried_invite_does_not_send_twice(authz: Authz, database_url: str) -> None:
    stub = invitations(authz)
    request = ipb.InviteUserRequest(request_id="r1", account="a", user="lea", email="l@x.org")
    first = await stub.InviteUser(request)
    again = await stub.InviteUser(request)
    assert first.revision == again.revision
    assert len([n for n in await notifications(database_url) if n.invitation.user == "lea"]) == 1


async def test_listing_pages_and_filters(authz: Authz) -> None:
    stub = invitations(authz)
    for name in ("u1", "u2", "u3", "u4", "u5"):
        await invite(authz, "a", name)
    await stub.RevokeInvitation(ipb.InvitationRequest(account="a", user="u3"))
    seen: list[str] = []
    token = ""
    while True:
        page = await stub.ListInvitations(
            ipb.ListInvitationsRequest(
                account="a", states=[ipb.INVITATION_STATE_PENDING], page_size=2, page_token=token
            )
        )
        seen += [i.user for i in page.invitations]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["u1", "u2", "u4", "u5"]
    with pytest.raises(grpc.aio.AioRpcError) as info:  # a token of another filter
        await stub.ListInvitations(
            ipb.ListInvitationsRequest(
                account="a", page_size=2, page_token=page.next_page_token or "eyJ9"
            )
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_accept_attempts_are_rate_limited_per_address(database_url: str) -> None:
    async with running_server(settings_for(database_url)) as server:
        server.invitations.limiter = RateLimiter(burst=3, per_minute=0.0)
        for _ in range(3):
            assert (
                await refused(server.port, "nonsense")
            ).code() == grpc.StatusCode.UNAUTHENTICATED
        error = await refused(server.port, "nonsense")
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        authz = await connect(server)
        try:
            await invite(authz, "a", "max")  # others' RPCs are not limited
            secret = await secret_of(database_url, "a", "max")
            assert (await refused(server.port, secret)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        finally:
            await authz.channel.close(None)
