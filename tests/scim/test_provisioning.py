"""Provisioning sequences as Okta and Entra ID send them, against a real authz server (with
PostgreSQL): each step checked through authz's own RPCs, Check decisions and the audit events
(module scim, the service account as principal)."""

from __future__ import annotations

import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from tests.authz.clients import bind, connect, group, user_token
from tests.scim.helpers import Scim, provisioner, scim_events, scim_server

pytestmark = pytest.mark.integration

ACCOUNT = "a"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


async def _grant_group_viewing(scim: Scim, group_id: str, sa: str) -> None:
    """The administrator binds the provisioned group: its members may view projects. The
    service account must hold that too to add members (no escalation: test_scim_security)."""
    await bind(
        scim.admin,
        ACCOUNT,
        f"{sa}-viewer",
        pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier=sa, scope=ACCOUNT),
        "_account_viewer",
        "_all_resources_including_child_scopes",
    )
    await bind(
        scim.admin,
        ACCOUNT,
        f"{group_id}-viewers",
        group(group_id, ACCOUNT),
        "_account_viewer",
        "_all_resources_including_child_scopes",
    )


async def _may_view(scim: Scim, user: str) -> bool:
    return await scim.admin.check(user, f"{ACCOUNT}/o", "PROJECT", "p", "core_project_view")


async def _user_state(scim: Scim, user: str) -> int:
    got = await scim.admin.users.GetUser(pb.GetRequest(scope=ACCOUNT, identifier=user))
    return got.user.state


async def test_okta_sequence(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        sa, token = await provisioner(scim.admin, ACCOUNT)
        async with scim.client(ACCOUNT, token) as http:
            # Okta looks the user up before creating it
            found = await http.get(
                "/Users", params={"filter": 'userName eq "alice@example.com"', "count": "100"}
            )
            assert found.status_code == 200
            assert found.json()["totalResults"] == 0
            created = await http.post(
                "/Users",
                json={
                    "schemas": [USER_SCHEMA],
                    "userName": "alice@example.com",
                    "name": {"givenName": "Alice", "familyName": "Liddell"},
                    "emails": [{"primary": True, "value": "alice@example.com", "type": "work"}],
                    "displayName": "Alice Liddell",
                    "locale": "en-US",
                    "externalId": "00u1okta",
                    "groups": [],
                    "password": "never-stored-1!",
                    "active": True,
                },
            )
            assert created.status_code == 201, created.text
            alice = created.json()
            uid = alice["id"]
            assert alice["userName"] == "alice@example.com"
            assert alice["active"] is True
            assert "password" not in alice
            assert created.headers["ETag"] == alice["meta"]["version"]
            assert created.headers["Location"].endswith(f"/Users/{uid}")
            got = await scim.admin.users.GetUser(pb.GetRequest(scope=ACCOUNT, identifier=uid))
            assert got.user.email == "alice@example.com"
            assert got.user.display_name == "Alice Liddell"
            assert got.user.state == pb.USER_STATE_ACTIVE

            # the lookup now finds it, in any case (userName is case-insensitive)
            found = await http.get("/Users", params={"filter": 'userName eq "ALICE@example.com"'})
            assert [r["id"] for r in found.json()["Resources"]] == [uid]

            # Okta updates profiles with PUT
            replaced = await http.put(
                f"/Users/{uid}",
                json={**alice, "displayName": "Alice L.", "password": "again-2!"},
                headers={"If-Match": created.headers["ETag"]},
            )
            assert replaced.status_code == 200, replaced.text
            assert replaced.json()["displayName"] == "Alice L."
            # the old etag no longer matches
            stale = await http.put(
                f"/Users/{uid}", json=alice, headers={"If-Match": created.headers["ETag"]}
            )
            assert stale.status_code == 412, stale.text

            # a group, then its members by PATCH
            made = await http.post(
                "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}
            )
            assert made.status_code == 201, made.text
            gid = made.json()["id"]
            await _grant_group_viewing(scim, gid, sa)
            assert not await _may_view(scim, uid)
            added = await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [
                        {
                            "op": "add",
                            "path": "members",
                            "value": [{"value": uid, "display": "alice@example.com"}],
                        }
                    ],
                },
            )
            assert added.status_code == 200, added.text
            assert [m["value"] for m in added.json()["members"]] == [uid]
            assert await _may_view(scim, uid)

            # the user's own token works while it is active
            as_alice = await connect(scim.server, await user_token(scim.server, ACCOUNT, uid))
            await as_alice.users.GetUser(pb.GetRequest(scope=ACCOUNT, identifier=uid))

            # deactivation: decisions deny, the token stops working, the user stays
            deactivated = await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "value": {"active": False}}],
                },
            )
            assert deactivated.status_code == 200
            assert deactivated.json()["active"] is False
            assert not await _may_view(scim, uid)
            assert await _user_state(scim, uid) == pb.USER_STATE_DISABLED
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await as_alice.users.GetUser(pb.GetRequest(scope=ACCOUNT, identifier=uid))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

            # reactivation restores both
            reactivated = await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "value": {"active": True}}],
                },
            )
            assert reactivated.json()["active"] is True
            assert await _may_view(scim, uid)
            await as_alice.users.GetUser(pb.GetRequest(scope=ACCOUNT, identifier=uid))
            await as_alice.channel.close(None)

            removed = await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}],
                },
            )
            assert removed.status_code == 200
            assert "members" not in removed.json()
            assert not await _may_view(scim, uid)

            assert (await http.delete(f"/Groups/{gid}")).status_code == 204
            assert (await http.get(f"/Groups/{gid}")).status_code == 404

        events = await scim_events(database_url)
        assert {e.principal.identifier for e in events} == {sa}
        assert all(e.principal.type == ev.PRINCIPAL_TYPE_SERVICE_ACCOUNT for e in events)
        steps = [(e.action, e.resource.type, e.resource.identifier) for e in events]
        assert steps == [
            (ev.ACTION_CREATE, "USER", uid),
            (ev.ACTION_UPDATE, "USER", uid),  # PUT
            (ev.ACTION_CREATE, "USER_GROUP", gid),
            (ev.ACTION_UPDATE, "USER_GROUP", gid),  # member added
            (ev.ACTION_UPDATE, "USER", uid),  # deactivated
            (ev.ACTION_UPDATE, "USER", uid),  # reactivated
            (ev.ACTION_UPDATE, "USER_GROUP", gid),  # member removed
            (ev.ACTION_DELETE, "USER_GROUP", gid),
        ]
        assert [e.resource.labels.get("state") for e in events[4:6]] == ["DISABLED", "ACTIVE"]
        assert all(
            "never-stored" not in e.SerializeToString().decode("utf-8", "replace") for e in events
        )


async def test_entra_sequence(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        sa, token = await provisioner(scim.admin, ACCOUNT)
        async with scim.client(ACCOUNT, token) as http:
            empty = await http.get("/Users", params={"filter": 'userName eq "bob@contoso.com"'})
            assert empty.json()["totalResults"] == 0
            created = await http.post(
                "/Users",
                json={
                    "schemas": [USER_SCHEMA, ENTERPRISE],
                    "externalId": "8f9c6f7e-entra",
                    "userName": "bob@contoso.com",
                    "active": True,
                    "displayName": "Bob",
                    "emails": [{"primary": True, "type": "work", "value": "bob@contoso.com"}],
                    "name": {"formatted": "Bob B", "familyName": "B", "givenName": "Bob"},
                    ENTERPRISE: {"department": "Sales"},
                },
            )
            assert created.status_code == 201, created.text
            uid = created.json()["id"]
            by_external = await http.get(
                "/Users", params={"filter": 'externalId eq "8f9c6f7e-entra"'}
            )
            assert [r["id"] for r in by_external.json()["Resources"]] == [uid]

            # an attribute this service does not store: answered, nothing written
            unstored = await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [
                        {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Ops"}
                    ],
                },
            )
            assert unstored.status_code == 200, unstored.text
            # Entra's PATCH: capitalized ops, string booleans
            patched = await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [
                        {"op": "Replace", "path": "displayName", "value": "Bob Builder"},
                        {"op": "Replace", "path": "active", "value": "False"},
                    ],
                },
            )
            assert patched.status_code == 200, patched.text
            assert patched.json()["displayName"] == "Bob Builder"
            assert patched.json()["active"] is False
            assert await _user_state(scim, uid) == pb.USER_STATE_DISABLED

            made = await http.post(
                "/Groups",
                json={
                    "schemas": [GROUP_SCHEMA],
                    "externalId": "grp-entra-1",
                    "displayName": "Sales Team",
                    "members": [],
                },
            )
            gid = made.json()["id"]
            await _grant_group_viewing(scim, gid, sa)
            added = await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": uid}]}],
                },
            )
            assert [m["value"] for m in added.json()["members"]] == [uid]
            assert not await _may_view(scim, uid)  # a member, but disabled

            enabled = await http.patch(
                f"/Users/{uid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "Replace", "path": "active", "value": "True"}],
                },
            )
            assert enabled.json()["active"] is True
            assert await _may_view(scim, uid)

            # Entra removes members with a value list, not a value path
            removed = await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "Remove", "path": "members", "value": [{"value": uid}]}],
                },
            )
            assert removed.status_code == 200, removed.text
            assert not await _may_view(scim, uid)
            await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": uid}]}],
                },
            )

            # DELETE takes the user out of its groups
            assert (await http.delete(f"/Users/{uid}")).status_code == 204
            assert (await http.get(f"/Users/{uid}")).status_code == 404
            left = await scim.admin.groups.GetUserGroup(
                pb.GetRequest(scope=ACCOUNT, identifier=gid)
            )
            assert list(left.user_group.members) == []
            assert (await http.delete(f"/Groups/{gid}")).status_code == 204

        events = await scim_events(database_url)
        assert {e.principal.identifier for e in events} == {sa}
        deletes = [e for e in events if e.action == ev.ACTION_DELETE]
        assert [(e.resource.type, e.resource.identifier) for e in deletes] == [
            ("USER", uid),
            ("USER_GROUP", gid),
        ]
        assert len([e for e in events if e.resource.type == "USER_GROUP"]) == 5
        user_updates = [
            e for e in events if e.resource.type == "USER" and e.action == ev.ACTION_UPDATE
        ]
        assert [e.resource.labels.get("state") for e in user_updates] == ["DISABLED", "ACTIVE"]
