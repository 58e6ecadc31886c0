"""Borrowing pooled connections with a deadline: a call that cannot get one in time fails with
Unavailable instead of waiting for ever (DESIGN section 6, liveness)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.authz.domain.errors import Unavailable
from services.authz.store.repository import Conn


class Connections:
    """An asyncpg pool whose acquire has a timeout."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout_s: float = 5.0) -> None:
        self.pool = pool
        self.acquire_timeout_s = acquire_timeout_s

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Conn]:
        try:
            conn = await self.pool.acquire(timeout=self.acquire_timeout_s)
        except TimeoutError:
            raise Unavailable(
                f"no database connection within {self.acquire_timeout_s:g} s: retry"
            ) from None
        try:
            yield conn
        finally:
            await self.pool.release(conn)


def session_settings(statement_timeout_ms: int, lock_timeout_ms: int) -> dict[str, str]:
    """Server-side limits for every pooled session: no statement or lock wait without end."""
    return {
        "statement_timeout": str(statement_timeout_ms),
        "lock_timeout": str(lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(max(statement_timeout_ms, 1000) * 3),
    }
