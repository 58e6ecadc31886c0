"""Principals for attacker-style tests: a user holding exactly the permissions a test gives it,
made by the account's administrator and given a token on the operator's path."""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import grpc
import pytest

from audit.v1 import event_pb2 as ev
from authz.v1 import authz_pb2 as pb
from libs.events import codec
from tests.authz.clients import Authz, bind, connect, create_user, user, user_token

EVERYTHING = "_all_resources_including_child_scopes"
_numbers = itertools.count()


async def holder_of(
    admin: Authz, account: str, permissions: list[str], scope: str = "", resource_group: str = ""
) -> tuple[str, Authz]:
    """A new user of `account` bound (by the administrator) to a custom role with exactly
    `permissions`, over `resource_group` (default: everything) at `scope` (default: account)."""
    n = next(_numbers)
    identifier = f"attacker{n}"
    where = scope or account
    await create_user(admin, account, identifier)
    if permissions:
        role = f"only{n}"
        await admin.roles.CreateRole(
            pb.CreateRoleRequest(
                role=pb.Role(scope=where, identifier=role, permissions=permissions)
            )
        )
        await bind(
            admin, where, f"{identifier}-b", user(identifier), role, resource_group or EVERYTHING
        )
    token = await user_token(admin.server, account, identifier)
    return identifier, await connect(admin.server, token)


async def status_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def outbox_events(database_url: str) -> list[ev.AuditEvent]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    finally:
        await conn.close()
    return [codec.decode(bytes(r["payload"])) for r in rows]


async def denials_of(database_url: str, identifier: str) -> list[ev.AuditEvent]:
    return [
        e
        for e in await outbox_events(database_url)
        if e.action == ev.ACTION_ACCESS_DENIED and e.principal.identifier == identifier
    ]


async def effective(client: Authz, identifier: str, scope: str) -> set[str]:
    reply = await client.access.ListEffectivePermissions(
        pb.ListEffectivePermissionsRequest(principal=user(identifier), scope=scope)
    )
    return set(reply.permissions)
