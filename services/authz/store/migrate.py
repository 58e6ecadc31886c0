"""Versioned SQL migrations: store/migrations/NNNN_name.sql, applied in order, each once."""

from __future__ import annotations

import logging
from pathlib import Path

from asyncpg import Connection
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_ID = 0x61757468  # serializes concurrent start-ups


async def migrate(conn: Connection | PoolConnectionProxy) -> list[str]:
    """Apply the pending migrations; return the names applied."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("*.sql")):
            if path.stem in done:
                continue
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
            applied.append(path.stem)
            log.info("applied migration %s", path.stem)
    return applied
