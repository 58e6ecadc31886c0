"""The tenant-isolation matrix: the administrator of one account, against look-alike accounts
(`acme_corp` / `acmeXcorp` / `acme-corp`, `a` / `ab`), tries every RPC on their entities,
reads and writes, with and without cascade and request ids. Nothing of another tenant is read,
changed or named in an answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from authz.v1 import invitations_pb2 as ipb
from tests.authz.clients import Authz, admin_token, bind, connect, create_user, group, user
from tests.authz.invitation_helpers import invitations
from tests.security.attackers import EVERYTHING, refused

pytestmark = pytest.mark.integration

ATTACKER = "acme_corp"
VICTIMS = ["acmeXcorp", "acme-corp", "ab", "a"]
GHOST = "ghost_account"  # exists nowhere


async def populate(admin: Authz, account: str) -> None:
    await create_user(admin, account, "bob")
    await admin.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope=account, identifier="victim_team", members=["bob"])
        )
    )
    await admin.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(
                scope=account, identifier="victim_role", permissions=["core_secret_access"]
            ),
            request_id="shared-request-id",
        )
    )
    rg = pb.ResourceGroup(scope=account, identifier="victim_rg", include_all_resources=True)
    await admin.resource_groups.CreateResourceGroup(
        pb.CreateResourceGroupRequest(resource_group=rg)
    )
    await bind(admin, account, "vic_b", group("victim_team", account), "victim_role", "victim_rg")
    sa = pb.ServiceAccount(scope=account, identifier="victim_bot")
    await admin.service_accounts.CreateServiceAccount(
        pb.CreateServiceAccountRequest(service_account=sa)
    )
    owner = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="victim_bot")
    key = pb.ApiKey(scope=account, identifier="victim_key", owner=owner)
    await admin.api_keys.CreateApiKey(pb.CreateApiKeyRequest(api_key=key))
    await invitations(admin).InviteUser(
        ipb.InviteUserRequest(account=account, user="carl", email="carl@example.com")
    )


def attacks(c: Authz, v: str) -> list[tuple[str, Any]]:
    """Every RPC, aimed at account v's entities (or at v's scopes)."""

    def get(identifier: str) -> pb.GetRequest:
        return pb.GetRequest(scope=v, identifier=identifier)

    def delete(identifier: str, cascade: bool) -> pb.DeleteRequest:
        return pb.DeleteRequest(scope=v, identifier=identifier, cascade=cascade)

    bot = pb.Principal(type=pb.PRINCIPAL_TYPE_SERVICE_ACCOUNT, identifier="victim_bot", scope=v)
    check = pb.CheckRequest(
        principal=user("bob"),
        resource_scope=v,
        resource_type="SECRET",
        resource_identifier="s",
        permission="core_secret_access",
    )
    rid = "shared-request-id"
    found: list[tuple[str, Any]] = [
        ("GetUser", c.users.GetUser(get("bob"))),
        ("ListUsers", c.users.ListUsers(pb.ListRequest(scope=v))),
        (
            "CreateUser",
            c.users.CreateUser(
                pb.CreateUserRequest(user=pb.User(account=v, identifier="eve"), request_id=rid)
            ),
        ),
        ("UpdateUser", c.users.UpdateUser(pb.User(account=v, identifier="bob", email="x@y.z"))),
        ("GetUserGroup", c.groups.GetUserGroup(get("victim_team"))),
        ("ListUserGroups", c.groups.ListUserGroups(pb.ListRequest(scope=v))),
        (
            "CreateUserGroup",
            c.groups.CreateUserGroup(
                pb.CreateUserGroupRequest(
                    user_group=pb.UserGroup(scope=v, identifier="g"), request_id=rid
                )
            ),
        ),
        (
            "UpdateUserGroup",
            c.groups.UpdateUserGroup(pb.UserGroup(scope=v, identifier="victim_team")),
        ),
        (
            "AddMember",
            c.groups.AddMember(pb.MemberRequest(scope=v, identifier="victim_team", user="bob")),
        ),
        (
            "RemoveMember",
            c.groups.RemoveMember(pb.MemberRequest(scope=v, identifier="victim_team", user="bob")),
        ),
        ("GetServiceAccount", c.service_accounts.GetServiceAccount(get("victim_bot"))),
        ("ListServiceAccounts", c.service_accounts.ListServiceAccounts(pb.ListRequest(scope=v))),
        (
            "UpdateServiceAccount",
            c.service_accounts.UpdateServiceAccount(
                pb.ServiceAccount(scope=v, identifier="victim_bot", name="x")
            ),
        ),
        ("GetRole", c.roles.GetRole(get("victim_role"))),
        ("ListRoles", c.roles.ListRoles(pb.ListRequest(scope=v))),
        (
            "CreateRole",
            c.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope=v, identifier="r2"), request_id=rid)
            ),
        ),
        ("UpdateRole", c.roles.UpdateRole(pb.Role(scope=v, identifier="victim_role"))),
        ("GetResourceGroup", c.resource_groups.GetResourceGroup(get("victim_rg"))),
        ("ListResourceGroups", c.resource_groups.ListResourceGroups(pb.ListRequest(scope=v))),
        (
            "UpdateResourceGroup",
            c.resource_groups.UpdateResourceGroup(
                pb.ResourceGroup(scope=v, identifier="victim_rg", include_all_resources=True)
            ),
        ),
        ("GetRoleBinding", c.bindings.GetRoleBinding(get("vic_b"))),
        ("ListRoleBindings", c.bindings.ListRoleBindings(pb.ListRequest(scope=v))),
        (
            "CreateRoleBinding",
            c.bindings.CreateRoleBinding(
                pb.CreateRoleBindingRequest(
                    role_binding=pb.RoleBinding(
                        scope=v,
                        identifier="b2",
                        principal=user("bob"),
                        role="_account_admin",
                        resource_group=EVERYTHING,
                    ),
                    request_id=rid,
                )
            ),
        ),
        (
            "UpdateRoleBinding",
            c.bindings.UpdateRoleBinding(
                pb.RoleBinding(
                    scope=v,
                    identifier="vic_b",
                    principal=user("bob"),
                    role="victim_role",
                    resource_group="victim_rg",
                    disabled=True,
                )
            ),
        ),
        ("ListApiKeys", c.api_keys.ListApiKeys(pb.ListApiKeysRequest(owner=bot, scope=v))),
        (
            "CreateApiKey",
            c.api_keys.CreateApiKey(
                pb.CreateApiKeyRequest(api_key=pb.ApiKey(scope=v, identifier="k2", owner=bot))
            ),
        ),
        (
            "RotateApiKey",
            c.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope=v, identifier="victim_key")),
        ),
        (
            "RotateApiKey (absent)",
            c.api_keys.RotateApiKey(pb.RotateApiKeyRequest(scope=v, identifier="no_such_key")),
        ),
        (
            "RevokeApiKey",
            c.api_keys.RevokeApiKey(pb.DeleteRequest(scope=v, identifier="victim_key")),
        ),
        (
            "RevokeApiKey (absent)",
            c.api_keys.RevokeApiKey(pb.DeleteRequest(scope=v, identifier="no_such_key")),
        ),
        ("Check", c.access.Check(check)),
        ("Explain", c.access.Explain(check)),
        (
            "ListEffectivePermissions",
            c.access.ListEffectivePermissions(
                pb.ListEffectivePermissionsRequest(principal=user("bob"), scope=v)
            ),
        ),
    ]
    stub = invitations(c)
    carl = ipb.InvitationRequest(account=v, user="carl")
    found += [
        (
            "InviteUser",
            stub.InviteUser(
                ipb.InviteUserRequest(
                    account=v,
                    user="eve",
                    email="eve@example.com",
                    user_groups=[ipb.GroupRef(scope=v, identifier="victim_team")],
                    request_id=rid,
                )
            ),
        ),
        ("ResendInvitation", stub.ResendInvitation(carl)),
        ("RevokeInvitation", stub.RevokeInvitation(carl)),
        ("ListInvitations", stub.ListInvitations(ipb.ListInvitationsRequest(account=v))),
    ]
    for cascade in (False, True):
        found += [
            (f"DeleteUser cascade={cascade}", c.users.DeleteUser(delete("bob", cascade))),
            (
                f"DeleteUserGroup cascade={cascade}",
                c.groups.DeleteUserGroup(delete("victim_team", cascade)),
            ),
            (
                f"DeleteServiceAccount cascade={cascade}",
                c.service_accounts.DeleteServiceAccount(delete("victim_bot", cascade)),
            ),
            (f"DeleteRole cascade={cascade}", c.roles.DeleteRole(delete("victim_role", cascade))),
            (
                f"DeleteResourceGroup cascade={cascade}",
                c.resource_groups.DeleteResourceGroup(delete("victim_rg", cascade)),
            ),
            (
                f"DeleteRoleBinding cascade={cascade}",
                c.bindings.DeleteRoleBinding(delete("vic_b", cascade)),
            ),
        ]
    return found


async def snapshot(database_url: str, accounts: list[str]) -> list[Any]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT kind, scope, identifier, body::text, etag FROM entities"
            " WHERE split_part(scope, '/', 1) = ANY($1::text[]) ORDER BY 1, 2, 3",
            accounts,
        )
        invited = await conn.fetch(
            "SELECT account, user_identifier, prefix, sends, revoked_at FROM invitations"
            " WHERE account = ANY($1::text[]) ORDER BY 1, 2",
            accounts,
        )
        tokens = await conn.fetch(
            "SELECT prefix, revoked_at FROM api_tokens"
            " WHERE split_part(owner_scope, '/', 1) = ANY($1::text[]) ORDER BY prefix",
            accounts,
        )
    finally:
        await conn.close()
    return [tuple(r) for r in rows] + [tuple(t) for t in tokens] + [tuple(i) for i in invited]


@pytest.fixture
async def tenants(authz: Authz) -> AsyncIterator[dict[str, Authz]]:
    clients = {}
    for account in [ATTACKER, *VICTIMS]:
        clients[account] = await connect(authz.server, await admin_token(authz.server, account))
        await populate(clients[account], account)
    yield clients
    for client in clients.values():
        await client.channel.close(None)


async def test_no_rpc_reaches_a_look_alike_account(
    tenants: dict[str, Authz], database_url: str
) -> None:
    attacker = tenants[ATTACKER]
    before = await snapshot(database_url, VICTIMS)
    # What the attacker is told about an account that does not exist at all ...
    ghost = {}
    for name, call in attacks(attacker, GHOST):
        ghost[name] = await refused(call)
    for victim in VICTIMS:
        for name, call in attacks(attacker, victim):
            error = await refused(call)
            # ... is exactly what it is told about a real one: the refusal reveals nothing.
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (
                victim,
                name,
                error.details(),
            )
            assert ghost[name].code() == error.code(), name
            told = (error.details() or "").replace(repr(victim), "V")
            assert told == (ghost[name].details() or "").replace(repr(GHOST), "V"), name
    assert await snapshot(database_url, VICTIMS) == before
    # A batch about the victims' principals answers per item, and reveals nothing either.
    items = [
        pb.CheckRequest(
            principal=user("bob"),
            resource_scope=v,
            resource_type="SECRET",
            permission="core_secret_access",
        )
        for v in VICTIMS
    ]
    batch = await attacker.access.BatchCheck(pb.BatchCheckRequest(items=items))
    assert all(
        r.error.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and not r.allowed
        for r in batch.results
    )


async def test_a_cascade_stays_in_its_own_account(
    tenants: dict[str, Authz], database_url: str
) -> None:
    attacker = tenants[ATTACKER]
    await attacker.groups.CreateUserGroup(
        pb.CreateUserGroupRequest(
            user_group=pb.UserGroup(scope=ATTACKER, identifier="own", members=["bob"])
        )
    )
    before = await snapshot(database_url, VICTIMS)
    refusal = await refused(
        attacker.users.DeleteUser(pb.DeleteRequest(scope=ATTACKER, identifier="bob"))
    )
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = refusal.details() or ""
    assert all(f"group {v}/" not in details for v in VICTIMS), details  # its own groups only
    assert f"{ATTACKER}/own" in details
    await attacker.users.DeleteUser(
        pb.DeleteRequest(scope=ATTACKER, identifier="bob", cascade=True)
    )
    assert await snapshot(database_url, VICTIMS) == before
    for victim in VICTIMS:
        team = await tenants[victim].groups.GetUserGroup(
            pb.GetRequest(scope=victim, identifier="victim_team")
        )
        assert list(team.user_group.members) == ["bob"]


async def test_a_request_id_never_answers_with_another_tenants_response(
    tenants: dict[str, Authz],
) -> None:
    """Every tenant created its role with the same request id; the attacker sending it again
    for a new role gets its own role created, not anyone's earlier response."""
    attacker = tenants[ATTACKER]
    reply = await attacker.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(
                scope=ATTACKER, identifier="fresh_role", permissions=["core_project_view"]
            ),
            request_id="shared-request-id-2",
        )
    )
    assert (reply.role.scope, reply.role.identifier) == (ATTACKER, "fresh_role")
    victim = tenants["acmeXcorp"]
    again = await victim.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(scope="acmeXcorp", identifier="other_role"),
            request_id="shared-request-id-2",
        )
    )
    assert (again.role.scope, again.role.identifier) == ("acmeXcorp", "other_role")
    # The same caller retrying its own request still gets its first answer (no second write).
    retry = await attacker.roles.CreateRole(
        pb.CreateRoleRequest(
            role=pb.Role(
                scope=ATTACKER, identifier="fresh_role", permissions=["core_project_view"]
            ),
            request_id="shared-request-id-2",
        )
    )
    assert retry.revision == reply.revision
