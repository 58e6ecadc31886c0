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
from tests.authz.conftest import Authz, connect, settings_for, user
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


async def test_a_held_lock_and_an_empty_pool_end_in_unavailable(database_url: str) -> None:
    settings = settings_for(
        database_url, pool_size=2, pool_acquire_timeout_s=0.5, lock_timeout_ms=1500
    )
    async with running_server(settings) as server:
        client = await connect(server)
        blocker = await asyncpg.connect(database_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("SELECT revision FROM policy_revision FOR UPDATE")
            # Two writes take both pooled connections and wait for the lock; a read finds no
            # connection. Each ends on its own, UNAVAILABLE.
            writes = [
                status_of(
                    client.roles.CreateRole(
                        pb.CreateRoleRequest(role=pb.Role(scope="a", identifier=f"w{i}"))
                    )
                )
                for i in range(2)
            ]
            read = status_of(client.roles.GetRole(pb.GetRequest(scope="a", identifier="w0")))
            codes = await asyncio.wait_for(asyncio.gather(*writes, _later(read)), HANG)
            assert codes == [grpc.StatusCode.UNAVAILABLE] * 3
            await tx.rollback()
            # Once the lock is gone, the service is whole again.
            await client.roles.CreateRole(
                pb.CreateRoleRequest(role=pb.Role(scope="a", identifier="w0"))
            )
        finally:
            await blocker.close()
            await client.channel.close(None)


async def _later(call: Any) -> Any:
    await asyncio.sleep(0.2)  # after the writes have taken the pool
    return await call
