"""Reads of the audit store for the query API, and the saved filters (asyncpg)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg

from services.audit.domain.errors import AlreadyExists, EtagMismatch, NotFound
from services.audit.domain.query import EventQuery
from services.audit.domain.records import AuditRecord
from services.audit.domain.saved_filters import SavedFilter
from services.audit.domain.text_search import Window, windows
from services.audit.store.event_queries import where
from services.audit.store.repository import RECORD_COLUMNS, Conn, record_of

SELECT_RECORD = f"SELECT {', '.join(RECORD_COLUMNS)} FROM audit_events"


def statement(
    query: EventQuery, after: tuple[datetime, str] | None, limit: int, window: Window | None = None
) -> tuple[str, list[object]]:
    """One page (of one day window, for a text search) newest first, and its parameters."""
    clause, params = where(query, after, window)
    order = f"ORDER BY occurred_at DESC, event_id DESC LIMIT {int(limit)}"
    sql = f"{SELECT_RECORD} WHERE {clause} {order}"
    return sql, params


def search_windows(query: EventQuery, after: tuple[datetime, str] | None) -> list[Window]:
    """The day windows a text search walks, newest first, from the keyset position on."""
    end = query.end if after is None else min(query.end, after[0] + timedelta(microseconds=1))
    return windows(query.start, end)


async def list_events(
    conn: Conn, query: EventQuery, after: tuple[datetime, str] | None, limit: int
) -> list[AuditRecord]:
    """A page newest first. Free text walks day windows newest first and stops when the page is
    full: a frequent word is answered from the newest day, and only the index terms of the
    days searched are read."""
    found: list[AuditRecord] = []
    for window in search_windows(query, after) if query.text else [None]:
        sql, params = statement(query, after, limit - len(found), window)
        found += [record_of(r) for r in await conn.fetch(sql, *params)]
        if len(found) >= limit:
            break
    return found


async def iterate_events(
    conn: Conn, query: EventQuery, after: tuple[datetime, str] | None, page: int = 1000
) -> AsyncIterator[list[AuditRecord]]:
    """Every matching event, newest first, a page at a time: memory stays bounded."""
    while True:
        records = await list_events(conn, query, after, page)
        if not records:
            return
        yield records
        last = records[-1]
        after = (last.occurred_at, str(last.event_id))


async def get_event(conn: Conn, event_id: uuid.UUID) -> AuditRecord | None:
    row = await conn.fetchrow(f"{SELECT_RECORD} WHERE event_id = $1", event_id)
    return record_of(row) if row else None


def _saved(r: asyncpg.Record) -> SavedFilter:
    return SavedFilter(
        r["id"], r["scope"], r["owner"], r["name"], r["visibility"], bytes(r["filter"]), r["etag"]
    )


SAVED_COLUMNS = "id, scope, owner, name, visibility, filter, etag"


async def create_saved_filter(conn: Conn, f: SavedFilter) -> SavedFilter:
    try:
        row = await conn.fetchrow(
            f"INSERT INTO audit_saved_filters ({SAVED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, 1)"
            f" RETURNING {SAVED_COLUMNS}",
            f.id, f.scope, f.owner, f.name, f.visibility, f.filter,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"a saved filter named {f.name!r} exists in {f.scope!r}") from None
    assert row is not None  # RETURNING of a successful INSERT
    return _saved(row)


async def get_saved_filter(conn: Conn, filter_id: uuid.UUID, viewer: str) -> SavedFilter:
    """Visible to its owner, and to everyone when shared; to others it does not exist."""
    row = await conn.fetchrow(
        f"SELECT {SAVED_COLUMNS} FROM audit_saved_filters WHERE id = $1"
        " AND (owner = $2 OR visibility = 'EVERYONE')",
        filter_id,
        viewer,
    )
    if row is None:
        raise NotFound(f"saved filter {filter_id} not found")
    return _saved(row)


async def update_saved_filter(conn: Conn, f: SavedFilter, etag: str) -> SavedFilter:
    row = await conn.fetchrow(
        "UPDATE audit_saved_filters SET name = $2, visibility = $3, filter = $4,"
        " etag = etag + 1, updated_at = now()"
        f" WHERE id = $1 AND ($5 = '' OR etag::text = $5) RETURNING {SAVED_COLUMNS}",
        f.id, f.name, f.visibility, f.filter, etag,
    )  # fmt: skip
    if row is None:
        raise EtagMismatch(f"saved filter {f.id} changed since etag {etag!r}: read it again")
    return _saved(row)


async def delete_saved_filter(conn: Conn, filter_id: uuid.UUID, etag: str) -> None:
    result = await conn.execute(
        "DELETE FROM audit_saved_filters WHERE id = $1 AND ($2 = '' OR etag::text = $2)",
        filter_id,
        etag,
    )
    if result.endswith(" 0"):
        raise EtagMismatch(f"saved filter {filter_id} changed since etag {etag!r}: read it again")


async def list_saved_filters(
    conn: Conn, scope: str, viewer: str, after: tuple[str, str], limit: int
) -> list[SavedFilter]:
    """Keyset by (name, id): names are unique per owner only."""
    rows = await conn.fetch(
        f"SELECT {SAVED_COLUMNS} FROM audit_saved_filters WHERE scope = $1"
        " AND (owner = $2 OR visibility = 'EVERYONE') AND (name, id::text) > ($3, $4)"
        " ORDER BY name, id::text LIMIT $5",
        scope,
        viewer,
        after[0],
        after[1],
        limit,
    )
    return [_saved(r) for r in rows]
