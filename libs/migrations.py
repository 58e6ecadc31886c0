"""Versioned SQL migrations: NNNN_name.sql files applied in order, each once, recorded in
schema_migrations under "<namespace>/<file stem>" so that several folders (a service's own and a
shared library's) can feed one database."""

from __future__ import annotations

import logging
from pathlib import Path

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

LOCK_ID = 0x61757468  # serializes concurrent start-ups


async def migrate(
    conn: Connection | PoolConnectionProxy, sources: list[tuple[str, Path]]
) -> list[str]:
    """Apply the pending migrations of each (namespace, folder), in that order; return the
    versions applied."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for namespace, folder in sources:
            for path in sorted(folder.glob("*.sql")):
                version = f"{namespace}/{path.stem}"
                if version in done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
                log.info("applied migration %s", version)
    return applied
