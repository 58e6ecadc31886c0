"""The authz database schema: the shared outbox's migrations, then authz's own."""

from __future__ import annotations

from pathlib import Path

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

import libs.outbox
from libs.migrations import migrate

SOURCES = [
    ("outbox", Path(libs.outbox.__file__).parent / "migrations"),
    ("authz", Path(__file__).parent / "migrations"),
]


async def migrate_authz(conn: Connection | PoolConnectionProxy) -> list[str]:
    return await migrate(conn, SOURCES)
