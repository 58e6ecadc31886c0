"""Liveness under hostile load: denied writes never hold the revision lock while they wait for a
connection, and every wait (a pooled connection, a lock) ends in UNAVAILABLE, never a hang.
No client deadline is set: the service must end each call by itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import grpc
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import Authz, connect, settings_for, user
from tests.security.attackers import EVERYTHING, holder_of, status_of

pytestmark = pytest.mark.integration

HANG = 120  # the test's own bound on a call that never ends; far beyond any honest wait


async def test_fifty_denied_writes_do_not_stall_fifty_legitimate_ones(authz: Authz) -> None:
    me, nobody = await holder_of(authz, "a", ["core_rolebinding_manage"])
    calls: list[tuple[str, Any]] = []
    for i in range(25):
        rotate = pb.RotateApiKeyRequest(scope="a", identifier=f"anything{i}")
        calls.append(("denied", nobody.api_keys.RotateApiKey(rotate)))
        escalate = pb.RoleBinding(
            scope="a",
            identifier=f"esc{i}",
            principal=user(me),
            role="_account_admin",
            resource_group=EVERYTHING,
        )
        calls.append(
            (
                "denied",
                nobody.bindings.CreateRoleBinding(
                    pb.CreateRoleBindingRequest(role_binding=escalate)
                ),
            )
        )
    for i in range(50):
        role = pb.Role(scope="a", identifier=f"legit{i}", permissions=["core_project_view"])
        calls.append(("ok", authz.roles.CreateRole(pb.CreateRoleRequest(role=role))))
    started = time.monotonic()
    codes = await asyncio.wait_for(asyncio.gather(*(status_of(c) for _, c in calls)), HANG)
    took = time.monotonic() - started
    print(f"100 concurrent writes (50 denied) finished in {took:.2f} s")
    for (want, _), code in zip(calls, codes, strict=True):
        expected = grpc.StatusCode.OK if want == "ok" else grpc.StatusCode.PERMISSION_DENIED
        assert code == expected
    await nobody.channel.close(None)


async def test_a_held_lock_ends_in_unavailable(database_url: str) -> None:
    async with running_server(settings_for(database_url, lock_timeout_ms=1000)) as server:
        client = await connect(server)
        blocker = await asyncpg.connect(database_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("SELECT revision FROM policy_revision FOR UPDATE")
            create = client.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="w"))
            )
            code = await asyncio.wait_for(status_of(create), HANG)
            assert code == grpc.StatusCode.UNAVAILABLE
            await tx.rollback()
            # Once the lock is gone, the service is whole again.
            await client.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="w"))
            )
        finally:
            await blocker.close()
            await client.channel.close(None)


async def test_an_empty_pool_ends_in_unavailable(database_url: str) -> None:
    settings = settings_for(database_url, pool_size=3, pool_acquire_timeout_s=0.5)
    async with running_server(settings) as server:
        client = await connect(server)
        pool = server.management.db.pool
        held = []
        try:
            while True:  # take every connection the server's pool will give
                try:
                    held.append(await pool.acquire(timeout=0.2))
                except TimeoutError:
                    break
            get = client.roles.GetRole(pb.GetRequest(scope="a", identifier="_account_admin"))
            assert await asyncio.wait_for(status_of(get), HANG) == grpc.StatusCode.UNAVAILABLE
        finally:
            for conn in held:
                await pool.release(conn)
        reply = await client.roles.GetRole(pb.GetRequest(scope="a", identifier="_account_admin"))
        assert reply.role.identifier == "_account_admin"
        await client.channel.close(None)
