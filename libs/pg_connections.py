"""Small helpers for long-lived asyncpg pool connections (LISTEN)."""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy


def connection_lost(conn: PoolConnectionProxy) -> bool:
    """A pool connection that died is detached from its proxy, which then raises when asked."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True
