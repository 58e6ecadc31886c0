"""What a SCIM caller must not get: without a token or the permissions, another account's
resources (look-alike names), more than it holds (no escalation), or a half-written change from
hostile input. Each answer is the SCIM error document it should be."""

from __future__ import annotations

import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from services.scim.app import MAX_FILTER
from tests.authz.clients import admin_token, bind, connect, group, user
from tests.authz.invitation_helpers import anonymous_invitations, invite, secret_of
from tests.scim.helpers import provisioner, scim_error, scim_events, scim_server

pytestmark = pytest.mark.integration

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EVERYTHING = "_all_resources_including_child_scopes"
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@example.com"}


async def test_no_or_bad_token_is_401(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        for token in ("", "not-a-token", "ak_deadbeef.0000"):
            async with scim.client("a", token) as http:
                answer = await http.get("/Users")
                scim_error(answer, 401)
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                scim_error(await http.get("/ServiceProviderConfig"), 401)


async def test_without_the_permissions_403_and_nothing_written(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        viewer, token = await provisioner(
            scim.admin, "a", ["core_user_view", "core_usergroup_view"]
        )
        async with scim.client("a", token) as http:
            assert (await http.get("/Users")).status_code == 200
            scim_error(await http.post("/Users", json=USER), 403)
            scim_error(await http.post("/Groups", json={"displayName": "G", "schemas": []}), 403)
        _, nothing = await provisioner(scim.admin, "a", [])
        async with scim.client("a", nothing) as http:
            scim_error(await http.get("/Users"), 403)
            scim_error(await http.get("/Users/admin"), 403)  # authorized before looked up
        events = await scim_events(database_url)
        assert [e.action for e in events if e.principal.identifier == viewer] == [
            ev.ACTION_ACCESS_DENIED,
            ev.ACTION_ACCESS_DENIED,
        ]
        assert not [e for e in events if e.action != ev.ACTION_ACCESS_DENIED]


async def test_no_escalation_through_group_membership(database_url: str) -> None:
    """Adding a member to a group that grants what the service account does not hold is
    refused, as through the gRPC API."""
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a")
        async with scim.client("a", token) as http:
            uid = (await http.post("/Users", json=USER)).json()["id"]
            gid = (await http.post("/Groups", json={"displayName": "Admins"})).json()["id"]
            await bind(
                scim.admin,
                "a",
                "admins-b",
                group(gid, "a"),
                "_account_admin",
                "_all_resources_including_child_scopes",
            )
            refused = await http.patch(
                f"/Groups/{gid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
                },
            )
            scim_error(refused, 403)
            scim_error(
                await http.put(
                    f"/Groups/{gid}", json={"displayName": "Admins", "members": [{"value": uid}]}
                ),
                403,
            )
            assert "members" not in (await http.get(f"/Groups/{gid}")).json()
        assert not await scim.admin.check(uid, "a", "PROJECT", "p", "core_project_view")


async def test_no_escalation_by_enabling_a_disabled_admin(database_url: str) -> None:
    """A service account that may manage users but does not hold _account_admin disables an
    administrator (deprovisioning), but may not enable it again: that would grant what it
    does not hold, as enabling a disabled binding would."""
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a", ["core_user_view", "core_user_manage"])
        await scim.admin.users.CreateUser(
            pb.CreateUserRequest(user=pb.User(account="a", identifier="boss"))
        )
        await bind(scim.admin, "a", "boss-b", user("boss"), "_account_admin", EVERYTHING)
        active = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}
        inactive = {**active, "Operations": [{"op": "replace", "value": {"active": False}}]}
        async with scim.client("a", token) as http:
            assert (await http.patch("/Users/boss", json=inactive)).json()["active"] is False
            scim_error(await http.patch("/Users/boss", json=active), 403)
            scim_error(
                await http.put("/Users/boss", json={"userName": "boss", "active": True}), 403
            )
            assert (await http.get("/Users/boss")).json()["active"] is False
        assert not await scim.admin.check("boss", "a", "PROJECT", "p", "core_project_view")
        # an administrator, who holds it all, may
        async with scim.client("a", await admin_token(scim.server, "a", "admin2")) as http:
            assert (await http.patch("/Users/boss", json=active)).json()["active"] is True


async def test_another_account_is_invisible(database_url: str) -> None:
    """acme_corp's service account sees nothing of acmeXcorp (a look-alike, LIKE-pattern
    name), with its own account's path or the other's."""
    async with scim_server(database_url) as scim:
        mine = await connect(scim.server, await admin_token(scim.server, "acme_corp"))
        theirs = await connect(scim.server, await admin_token(scim.server, "acmeXcorp"))
        _, my_token = await provisioner(mine, "acme_corp")
        _, their_token = await provisioner(theirs, "acmeXcorp")
        async with scim.client("acmeXcorp", their_token) as http:
            victim = (await http.post("/Users", json=USER)).json()["id"]
            their_group = (await http.post("/Groups", json={"displayName": "X"})).json()["id"]
        async with scim.client("acmeXcorp", my_token) as http:
            scim_error(await http.get(f"/Users/{victim}"), 403)
            scim_error(await http.get("/Users"), 403)
            scim_error(await http.delete(f"/Users/{victim}"), 403)
            scim_error(
                await http.patch(
                    f"/Users/{victim}",
                    json={
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "value": {"active": False}}],
                    },
                ),
                403,
            )
        async with scim.client("acme_corp", my_token) as http:
            scim_error(await http.get(f"/Users/{victim}"), 404)
            assert (
                await http.get("/Users", params={"filter": 'userName eq "eve@example.com"'})
            ).json()["totalResults"] == 0
            # a member from the other account is not a user of this one
            made = await http.post(
                "/Groups", json={"displayName": "Mine", "members": [{"value": victim}]}
            )
            scim_error(made, 400, "invalidValue")
            scim_error(await http.get(f"/Groups/{their_group}"), 404)
        got = await theirs.users.GetUser(pb.GetRequest(scope="acmeXcorp", identifier=victim))
        assert got.user.state == pb.USER_STATE_ACTIVE
        for client in (mine, theirs):
            await client.channel.close(None)


async def test_hostile_input_gets_scim_errors_and_writes_nothing(database_url: str) -> None:
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a")
        async with scim.client("a", token) as http:
            uid = (await http.post("/Users", json=USER)).json()["id"]
            written = len(await scim_events(database_url))
            huge = {**USER, "displayName": "x" * (2 * 1024 * 1024)}
            scim_error(await http.post("/Users", json=huge), 413)
            scim_error(await http.post("/Users", content=b"{not json"), 400, "invalidSyntax")
            scim_error(await http.post("/Users", content=b"[" * 100_000), 400, "invalidSyntax")
            scim_error(await http.post("/Users", json=[1, 2]), 400)
            scim_error(await http.post("/Users", json={**USER, "bogus": 1}), 400, "invalidSyntax")
            scim_error(await http.post("/Users", json={"schemas": USER["schemas"]}), 400)
            scim_error(
                await http.post(
                    "/Users", json={**USER, "userName": "z@example.com", "displayName": "a\x00b"}
                ),
                400,
                "invalidValue",
            )
            scim_error(
                await http.post("/Users", json={**USER, "displayName": "again"}), 409, "uniqueness"
            )
            for bad in (
                "userName eq",
                'userName xx "a"',
                '(userName eq "a"',
                'bogus eq "a"',
                '"a" eq userName',
            ):
                scim_error(await http.get("/Users", params={"filter": bad}), 400, "invalidFilter")
            scim_error(
                await http.patch(
                    f"/Users/{uid}",
                    json={
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "path": "bogus", "value": 1}],
                    },
                ),
                400,
                "invalidPath",
            )
            scim_error(
                await http.patch(
                    f"/Users/{uid}", json={"schemas": [PATCH], "Operations": [{"op": "jump"}]}
                ),
                400,
            )
            # a PUT's id is read-only: ignored (RFC 7644 3.5.1), the path names the user
            kept = await http.put(f"/Users/{uid}", json={**USER, "id": "other"})
            assert kept.json()["id"] == uid
            written += 1
            scim_error(await http.get("/Users/nobody"), 404)
            scim_error(await http.put("/Users/nobody", json=USER), 404)
            scim_error(await http.delete("/Users/nobody"), 404)
            scim_error(await http.delete(f"/Users/{uid}", headers={"If-Match": 'W/"1"'}), 412)
        async with scim.client("a/o", token) as http:
            scim_error(await http.get("/Users"), 404)
        assert len(await scim_events(database_url)) == written


async def test_filters_and_patch_paths_are_bounded(database_url: str) -> None:
    """SCIM is served on authz's own event loop: a filter of 1 MiB (tens of thousands of `or`
    terms), parsed and then matched against every user of the account, or a PATCH value path
    of the same size matched against every member, would stall every gRPC call with it. Past
    the bound: 400, before anything is parsed or read."""
    search = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a")
        async with scim.client("a", token) as http:
            gid = (await http.post("/Groups", json={"displayName": "G"})).json()["id"]
            written = len(await scim_events(database_url))
            fits = 'displayName co "' + "x" * (MAX_FILTER - 17) + '"'
            assert len(fits) == MAX_FILTER
            ok = await http.get("/Users", params={"filter": fits})
            assert ok.status_code == 200, ok.text
            huge = " or ".join(f'userName eq "u{i}"' for i in range(20_000))
            over = fits + " "
            scim_error(await http.get("/Users", params={"filter": over}), 400, "invalidFilter")
            for flt in (over, huge):
                for path in ("/Users/.search", "/Groups/.search", "/.search"):
                    body = {"schemas": [search], "filter": flt}
                    scim_error(await http.post(path, json=body), 400, "invalidFilter")
            members = "members[" + " or ".join(f'value eq "u{i}"' for i in range(20_000)) + "]"
            patch = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": members}]}
            scim_error(await http.patch(f"/Groups/{gid}", json=patch), 400, "invalidPath")
            # as many operations as a group has members at most; Entra's removal of a value
            # list counts one per value (each is matched against every member)
            many = [{"op": "remove", "path": f'members[value eq "u{i}"]'} for i in range(1001)]
            patch = {"schemas": [PATCH], "Operations": many}
            scim_error(await http.patch(f"/Groups/{gid}", json=patch), 400, "invalidValue")
            values = [{"value": f"u{i}"} for i in range(1001)]
            entra = [{"op": "Remove", "path": "members", "value": values}]
            patch = {"schemas": [PATCH], "Operations": entra}
            scim_error(await http.patch(f"/Groups/{gid}", json=patch), 400, "invalidValue")
            patch = {"schemas": [PATCH], "Operations": many[:1000]}
            assert (await http.patch(f"/Groups/{gid}", json=patch)).status_code == 200
        assert len(await scim_events(database_url)) == written


async def test_user_name_stays_unique_through_put_and_patch(database_url: str) -> None:
    """userName is unique ignoring case (RFC 7643) on every write, not only on create: else a
    user could take another's userName, and the identity provider's `userName eq` lookup
    before deprovisioning would find two users (and disable the wrong one)."""
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a")
        async with scim.client("a", token) as http:
            boss = (await http.post("/Users", json={"userName": "Boss@example.com"})).json()
            eve = (await http.post("/Users", json={"userName": "eve@example.com"})).json()
            written = len(await scim_events(database_url))
            taken = {"userName": "boss@EXAMPLE.com"}
            scim_error(await http.put(f"/Users/{eve['id']}", json=taken), 409, "uniqueness")
            patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": taken}]}
            scim_error(await http.patch(f"/Users/{eve['id']}", json=patch), 409, "uniqueness")
            path = {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "userName", "value": "BOSS@example.com"}],
            }
            scim_error(await http.patch(f"/Users/{eve['id']}", json=path), 409, "uniqueness")
            assert len(await scim_events(database_url)) == written
            found = await http.get("/Users", params={"filter": 'userName eq "boss@example.com"'})
            assert [r["id"] for r in found.json()["Resources"]] == [boss["id"]]
            # a user may change the case of its own userName
            own = {"userName": "BOSS@example.com"}
            assert (await http.put(f"/Users/{boss['id']}", json=own)).status_code == 200


async def test_deprovisioning_an_invited_user_closes_its_invitation(database_url: str) -> None:
    """An invited user (InviteUser) whom the identity provider deactivates is DISABLED, and
    its invitation lets no one in any more (it answered 200 and changed nothing, so the person
    who had left could still accept). Renaming an invited user leaves it invited."""
    active = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]}
    inactive = {**active, "Operations": [{"op": "replace", "value": {"active": False}}]}
    rename = {**active, "Operations": [{"op": "replace", "value": {"displayName": "Yan Y"}}]}
    async with scim_server(database_url) as scim:
        _, token = await provisioner(scim.admin, "a")
        await invite(scim.admin, "a", "zed")
        await invite(scim.admin, "a", "yan")
        async with scim.client("a", token) as http:
            assert (await http.patch("/Users/yan", json=rename)).json()["displayName"] == "Yan Y"
            assert (await http.patch("/Users/zed", json=inactive)).json()["active"] is False
            scim_error(await http.patch("/Users/yan", json=active), 409)  # only by accepting
        states = {
            name: (
                await scim.admin.users.GetUser(pb.GetRequest(scope="a", identifier=name))
            ).user.state
            for name in ("zed", "yan")
        }
        assert states == {"zed": pb.USER_STATE_DISABLED, "yan": pb.USER_STATE_INVITED}
        channel, stub = anonymous_invitations(scim.server.port)
        try:
            secret = await secret_of(database_url, "a", "zed")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.AcceptInvitation(ipb.AcceptInvitationRequest(secret=secret))
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            secret = await secret_of(database_url, "a", "yan")
            accepted = await stub.AcceptInvitation(ipb.AcceptInvitationRequest(secret=secret))
            assert accepted.user.state == pb.USER_STATE_ACTIVE
        finally:
            await channel.close(None)
