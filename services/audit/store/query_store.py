"""The store as the query service sees it: each call on a pooled connection of its own, given
back before the service goes on (a denial is recorded with no connection held)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from services.audit.chain_verification import Verification, verify_account
from services.audit.domain.chain import ChainKeys
from services.audit.domain.query import EventQuery, shape_of
from services.audit.domain.records import AuditRecord
from services.audit.domain.saved_filters import SavedFilter
from services.audit.metrics import QUERY_SECONDS
from services.audit.store import queries


class QueryStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list_events(
        self, query: EventQuery, after: tuple[datetime, str] | None, limit: int
    ) -> list[AuditRecord]:
        with QUERY_SECONDS.labels(shape_of(query)).time():
            async with self.pool.acquire() as conn:
                return await queries.list_events(conn, query, after, limit)

    async def iterate_events(
        self, query: EventQuery, after: tuple[datetime, str] | None, page: int
    ) -> AsyncIterator[list[AuditRecord]]:
        """One connection for the whole iteration."""
        async with self.pool.acquire() as conn:
            async for records in queries.iterate_events(conn, query, after, page):
                yield records

    async def get_event(self, event_id: uuid.UUID) -> AuditRecord | None:
        async with self.pool.acquire() as conn:
            return await queries.get_event(conn, event_id)

    async def verify_account(
        self,
        account: str,
        start: datetime,
        end: datetime,
        keys: ChainKeys,
        recorded: tuple[int, bytes] | None,
    ) -> Verification:
        async with self.pool.acquire() as conn:
            return await verify_account(conn, account, start, end, keys, recorded)

    async def create_saved_filter(self, saved: SavedFilter) -> SavedFilter:
        async with self.pool.acquire() as conn:
            return await queries.create_saved_filter(conn, saved)

    async def get_saved_filter(self, filter_id: uuid.UUID, viewer: str) -> SavedFilter:
        async with self.pool.acquire() as conn:
            return await queries.get_saved_filter(conn, filter_id, viewer)

    async def update_saved_filter(self, saved: SavedFilter, etag: str) -> SavedFilter:
        async with self.pool.acquire() as conn:
            return await queries.update_saved_filter(conn, saved, etag)

    async def delete_saved_filter(self, filter_id: uuid.UUID, etag: str) -> None:
        async with self.pool.acquire() as conn:
            await queries.delete_saved_filter(conn, filter_id, etag)

    async def list_saved_filters(
        self, scope: str, viewer: str, after: tuple[str, str], limit: int
    ) -> list[SavedFilter]:
        async with self.pool.acquire() as conn:
            return await queries.list_saved_filters(conn, scope, viewer, after, limit)
