"""A replica that loses its LISTEN connection to PostgreSQL listens again and catches up."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from authz.v1 import authz_pb2 as pb
from services.authz.server import running_server
from tests.authz.clients import Authz, connect, create_user, settings_for, user

pytestmark = pytest.mark.integration

LISTENERS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND query LIKE 'LISTEN %authz_policy%'"
)


async def listener_pids(conn: asyncpg.Connection) -> set[int]:
    return {r["pid"] for r in await conn.fetch(LISTENERS)}


async def test_a_replica_whose_listener_is_terminated_listens_again_and_catches_up(
    authz: Authz, database_url: str
) -> None:
    # No polling safety net: only a notification can bring the second replica forward.
    async with running_server(settings_for(database_url, poll_interval_s=3600)) as server:
        second = await connect(server)
        admin = await asyncpg.connect(database_url)
        try:
            before = await listener_pids(admin)
            assert len(before) == 2  # one per replica
            await admin.execute(f"SELECT pg_terminate_backend(pid) FROM ({LISTENERS}) l")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while len((after := await listener_pids(admin)) - before) < 2:
                assert loop.time() < deadline, f"listeners {after}, terminated {before}"
                await asyncio.sleep(0.1)
            written = await create_user(authz, "a", "after-the-cut")  # via the first replica
            response = await second.access.Check(
                pb.CheckRequest(
                    principal=user("after-the-cut"),
                    resource_scope="a",
                    resource_type="USER",
                    permission="core_user_view",
                    at_least_revision=written.revision,
                ),
                timeout=10,
            )
            assert response.revision >= written.revision
            assert server.state.revision >= written.revision
        finally:
            await admin.close()
            await second.channel.close(None)
