"""Disabling and enabling users through the gRPC API (UpdateUser state), the rule SCIM's
active=false uses: no decisions grant a DISABLED user anything, its tokens stop working, its
bindings and memberships are kept and grant again once it is enabled."""

from __future__ import annotations

import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from tests.authz.clients import Authz, bind, connect, create_user, user, user_token
from tests.authz.invitation_helpers import invite
from tests.security.attackers import outbox_events, refused

pytestmark = pytest.mark.integration

EVERYTHING = "_all_resources_including_child_scopes"


async def _set_state(authz: Authz, identifier: str, state: int) -> pb.UserResponse:
    current = await authz.users.GetUser(pb.GetRequest(scope="a", identifier=identifier))
    changed = pb.User()
    changed.CopyFrom(current.user)
    changed.state = state  # type: ignore[assignment]
    return await authz.users.UpdateUser(changed)


async def _may_view(authz: Authz, identifier: str) -> bool:
    return await authz.check(identifier, "a", "PROJECT", "p", "core_project_view")


async def test_disable_and_enable(authz: Authz, database_url: str) -> None:
    await create_user(authz, "a", "bob")
    await bind(authz, "a", "bob-b", user("bob"), "_account_viewer", EVERYTHING)
    as_bob = await connect(authz.server, await user_token(authz.server, "a", "bob"))
    assert await _may_view(authz, "bob")

    disabled = await _set_state(authz, "bob", pb.USER_STATE_DISABLED)
    assert disabled.user.state == pb.USER_STATE_DISABLED
    assert not await _may_view(authz, "bob")
    failure = await refused(as_bob.users.GetUser(pb.GetRequest(scope="a", identifier="bob")))
    assert failure.code() == grpc.StatusCode.UNAUTHENTICATED
    # an update that does not name the state keeps it
    again = await authz.users.GetUser(pb.GetRequest(scope="a", identifier="bob"))
    renamed = pb.User(account="a", identifier="bob", email="bob@example.com", display_name="B")
    kept = await authz.users.UpdateUser(renamed)
    assert kept.user.state == pb.USER_STATE_DISABLED
    assert again.user.etag != kept.user.etag
    assert not await _may_view(authz, "bob")

    enabled = await _set_state(authz, "bob", pb.USER_STATE_ACTIVE)
    assert enabled.user.state == pb.USER_STATE_ACTIVE
    assert await _may_view(authz, "bob")
    await as_bob.users.GetUser(pb.GetRequest(scope="a", identifier="bob"))
    await as_bob.channel.close(None)

    states = [
        e.resource.labels.get("state")
        for e in await outbox_events(database_url)
        if e.action == ev.ACTION_UPDATE and e.resource.identifier == "bob"
    ]
    assert states == ["DISABLED", None, "ACTIVE"]


async def test_created_disabled_and_invited_users(authz: Authz) -> None:
    made = await authz.users.CreateUser(
        pb.CreateUserRequest(
            user=pb.User(account="a", identifier="carl", state=pb.USER_STATE_DISABLED)
        )
    )
    assert made.user.state == pb.USER_STATE_DISABLED
    failure = await refused(
        authz.users.CreateUser(
            pb.CreateUserRequest(
                user=pb.User(account="a", identifier="dan", state=pb.USER_STATE_INVITED)
            )
        )
    )
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "user.state" in (failure.details() or "")
    await invite(authz, "a", "erin")
    failure = await refused(_set_state(authz, "erin", pb.USER_STATE_ACTIVE))
    assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION  # only by accepting
    # deprovisioning an invitee disables it (its invitation then opens nothing)
    disabled = await _set_state(authz, "erin", pb.USER_STATE_DISABLED)
    assert disabled.user.state == pb.USER_STATE_DISABLED
