"""Thin handlers of the AuditQueryService: authenticate through authz, authorize the scopes,
then query the store. They raise domain errors; the server registers them behind the shared
error boundary (grpc_api/errors.py), which turns every failure into its status."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc

from audit.v1 import query_pb2 as q
from audit.v1 import query_pb2_grpc as q_grpc
from services.audit.access_control import AuthzClient, Viewer
from services.audit.chain_verification import verify_account
from services.audit.denials import DenialRecorder
from services.audit.domain import bounds, page_tokens
from services.audit.domain.chain import ChainKeys
from services.audit.domain.diff import diff
from services.audit.domain.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.audit.domain.query import EventQuery, ScopeSelector, page_size
from services.audit.domain.scopes import check_scope
from services.audit.grpc_api.call_metadata import bearer, request_of
from services.audit.grpc_api.converters import (
    event_of,
    merged,
    query_of,
    saved_message,
    timestamp,
    uuid_of,
)
from services.audit.grpc_api.export_rows import csv_lines, json_lines
from services.audit.store import queries
from services.audit.store.queries import SavedFilterRow

Context = grpc.aio.ServicerContext[Any, Any]

EXPORT_PAGE = 1000


class AuditQueryServicer(q_grpc.AuditQueryServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        authz: AuthzClient,
        page_key: bytes,
        retention_days: int,
        chain_keys: ChainKeys,
        denials: DenialRecorder,
    ) -> None:
        self.pool = pool
        self.denials = denials
        self.chain_keys = chain_keys
        self.authz = authz
        self.page_key = page_key
        self.retention_days = retention_days

    async def _require_view(
        self, context: Context, token: str, viewer: Viewer, scopes: list[ScopeSelector]
    ) -> None:
        """authz's answer; a refusal is audited (coalesced) before it is returned."""
        try:
            await self.authz.require_view(token, viewer, scopes)
        except PermissionDenied as denied:
            await self._record(context, viewer, denied)
            raise

    async def _record(self, context: Context, viewer: Viewer, denied: PermissionDenied) -> None:
        await self.denials.record(
            viewer, denied.scope, denied.permission, denied.message, request_of(context)
        )

    async def _viewer(self, context: Context) -> tuple[str, Viewer]:
        token = bearer(context)
        return token, await self.authz.whoami(token)

    async def _query(
        self, context: Context, given: q.EventFilter, saved_filter_id: str
    ) -> tuple[EventQuery, bytes]:
        """The request's filter (over a saved one), authorized; and its fingerprint."""
        token, viewer = await self._viewer(context)
        saved = None
        if saved_filter_id:
            async with self.pool.acquire() as conn:
                row = await queries.get_saved_filter(
                    conn, uuid_of(saved_filter_id, "saved_filter_id"), viewer.key
                )
            saved = q.EventFilter.FromString(row.filter)
        effective = merged(saved, given)
        event_query = query_of(effective, datetime.now(UTC), self.retention_days)
        await self._require_view(context, token, viewer, list(event_query.scopes))
        fingerprint = hashlib.sha256(
            viewer.key.encode() + effective.SerializeToString(deterministic=True)
        ).digest()
        return event_query, fingerprint

    async def ListEvents(
        self, request: q.ListEventsRequest, context: Context
    ) -> q.ListEventsResponse:
        size = page_size(request.page_size)
        event_query, fingerprint = await self._query(
            context, request.filter, request.saved_filter_id
        )
        after = None
        if request.page_token:
            moment, event_id = page_tokens.decode(self.page_key, fingerprint, request.page_token)
            after = (datetime.fromisoformat(moment), event_id)
        async with self.pool.acquire() as conn:
            records = await queries.list_events(conn, event_query, after, size + 1)
        token = ""
        if len(records) > size:
            records = records[:size]
            last = records[-1]
            token = page_tokens.encode(
                self.page_key, fingerprint, [last.occurred_at.isoformat(), str(last.event_id)]
            )
        return q.ListEventsResponse(events=[event_of(r) for r in records], next_page_token=token)

    async def GetEvent(self, request: q.GetEventRequest, context: Context) -> q.GetEventResponse:
        token, viewer = await self._viewer(context)
        event_id = uuid_of(request.event_id, "event_id")
        async with self.pool.acquire() as conn:
            record = await queries.get_event(conn, event_id)
        if record is None:
            raise NotFound(f"event {event_id} not found")
        scope = "/".join(p for p in (record.account, record.organization, record.project) if p)
        try:
            await self._require_view(context, token, viewer, [ScopeSelector(scope, False)])
        except PermissionDenied:
            raise NotFound(f"event {event_id} not found") from None  # not even its existence
        changes = diff(record.old_state or {}, record.new_state or {})
        return q.GetEventResponse(
            event=event_of(record),
            diff=[
                q.FieldChange(path=c.path, old_json=c.old_json, new_json=c.new_json)
                for c in changes
            ],
        )

    async def ExportEvents(
        self, request: q.ExportEventsRequest, context: Context
    ) -> AsyncIterator[q.ExportChunk]:
        event_query, _ = await self._query(context, request.filter, request.saved_filter_id)
        if request.format not in (q.EXPORT_FORMAT_CSV, q.EXPORT_FORMAT_JSON_LINES):
            raise InvalidArgument("format", "give EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON_LINES")
        async with self.pool.acquire() as conn:
            after = None
            if request.resume_after_event_id:
                resume = uuid_of(request.resume_after_event_id, "resume_after_event_id")
                record = await queries.get_event(conn, resume)
                if record is None:
                    raise NotFound(f"event {resume} not found")
                after = (record.occurred_at, str(record.event_id))
            as_csv = request.format == q.EXPORT_FORMAT_CSV
            header = as_csv and after is None
            async for page in queries.iterate_events(conn, event_query, after, EXPORT_PAGE):
                data = csv_lines(page, header) if as_csv else json_lines(page)
                header = False
                yield q.ExportChunk(data=data.encode(), last_event_id=str(page[-1].event_id))

    async def VerifyChain(
        self, request: q.VerifyChainRequest, context: Context
    ) -> q.VerifyChainResponse:
        token, viewer = await self._viewer(context)
        account = check_scope(request.account, "account")
        if "/" in account:
            raise InvalidArgument("account", "give an account, not a deeper scope")
        start = timestamp(request.start, "start") if request.HasField("start") else bounds.EARLIEST
        end = timestamp(request.end, "end") if request.HasField("end") else bounds.LATEST
        if end <= start:
            raise InvalidArgument("end", "the range is empty or inverted")
        recorded = bounds.recorded_head(request.recorded_head_position, request.recorded_head_hash)
        await self._require_view(context, token, viewer, [ScopeSelector(account, True)])
        async with self.pool.acquire() as conn:
            result = await verify_account(conn, account, start, end, self.chain_keys, recorded)
        answer = q.VerifyChainResponse(intact=result.broken is None, events_checked=result.checked)
        if result.head is not None:
            answer.head_position = result.head.seq
            answer.head_hash = result.head.hash.hex()
            answer.head_key_id = result.head.key_id
        if result.broken is not None:
            answer.broken_at_position = result.broken.seq
            answer.broken_event_id = result.broken.event_id
            answer.reason = result.broken.reason
        return answer

    # ------------------------------------------------------------------ saved filters

    async def _check_saved(
        self, context: Context, f: q.SavedFilter
    ) -> tuple[Viewer, SavedFilterRow]:
        token, viewer = await self._viewer(context)
        scope = check_scope(f.scope, "saved_filter.scope")
        if not bounds.text(f.name, "saved_filter.name", bounds.MAX_NAME):
            raise InvalidArgument("saved_filter.name", "give a name")
        if f.visibility not in q.Visibility.values():
            raise InvalidArgument("saved_filter.visibility", f"unknown value {f.visibility}")
        probe = q.EventFilter()
        probe.CopyFrom(f.filter)
        if not probe.scopes:
            probe.scopes.add(scope=scope)
        query_of(probe, datetime.now(UTC), self.retention_days)  # the same checks as a query
        await self._require_view(context, token, viewer, [ScopeSelector(scope, False)])
        visibility = "EVERYONE" if f.visibility == q.VISIBILITY_EVERYONE else "ONLY_ME"
        row = SavedFilterRow(
            uuid.uuid4(), scope, viewer.key, f.name, visibility, f.filter.SerializeToString(), 1
        )
        return viewer, row

    async def CreateSavedFilter(
        self, request: q.CreateSavedFilterRequest, context: Context
    ) -> q.SavedFilter:
        _, row = await self._check_saved(context, request.saved_filter)
        async with self.pool.acquire() as conn:
            return saved_message(await queries.create_saved_filter(conn, row))

    async def GetSavedFilter(
        self, request: q.SavedFilterRequest, context: Context
    ) -> q.SavedFilter:
        _, viewer = await self._viewer(context)
        async with self.pool.acquire() as conn:
            row = await queries.get_saved_filter(conn, uuid_of(request.id, "id"), viewer.key)
        return saved_message(row)

    async def _owned(self, conn: Any, filter_id: str, viewer: Viewer) -> SavedFilterRow:
        row = await queries.get_saved_filter(conn, uuid_of(filter_id, "id"), viewer.key)
        if row.owner != viewer.key:
            raise PermissionDenied(
                "only the owner may change or delete a saved filter",
                scope=row.scope,
                permission="owner_of_saved_filter",
            )
        return row

    async def UpdateSavedFilter(self, request: q.SavedFilter, context: Context) -> q.SavedFilter:
        viewer, row = await self._check_saved(context, request)
        etag = bounds.text(request.etag, "etag", bounds.MAX_ETAG)
        try:
            async with self.pool.acquire() as conn:
                current = await self._owned(conn, request.id, viewer)
                if current.scope != row.scope:
                    raise InvalidArgument("saved_filter.scope", "a saved filter stays in its scope")
                updated = SavedFilterRow(
                    current.id, row.scope, row.owner, row.name, row.visibility, row.filter, 0
                )
                return saved_message(await queries.update_saved_filter(conn, updated, etag))
        except PermissionDenied as denied:  # recorded once the connection is back
            await self._record(context, viewer, denied)
            raise

    async def DeleteSavedFilter(
        self, request: q.SavedFilterRequest, context: Context
    ) -> q.DeleteSavedFilterResponse:
        _, viewer = await self._viewer(context)
        etag = bounds.text(request.etag, "etag", bounds.MAX_ETAG)
        try:
            async with self.pool.acquire() as conn:
                current = await self._owned(conn, request.id, viewer)
                await queries.delete_saved_filter(conn, current.id, etag)
        except PermissionDenied as denied:  # recorded once the connection is back
            await self._record(context, viewer, denied)
            raise
        return q.DeleteSavedFilterResponse()

    async def ListSavedFilters(
        self, request: q.ListSavedFiltersRequest, context: Context
    ) -> q.ListSavedFiltersResponse:
        token, viewer = await self._viewer(context)
        scope = check_scope(request.scope, "scope")
        size = page_size(request.page_size)
        await self._require_view(context, token, viewer, [ScopeSelector(scope, False)])
        fingerprint = f"saved:{scope}:{viewer.key}".encode()
        after = ("", "")
        if request.page_token:
            name, filter_id = page_tokens.decode(self.page_key, fingerprint, request.page_token)
            after = (name, filter_id)
        async with self.pool.acquire() as conn:
            rows = await queries.list_saved_filters(conn, scope, viewer.key, after, size + 1)
        next_token = ""
        if len(rows) > size:
            rows = rows[:size]
            position = [rows[-1].name, str(rows[-1].id)]
            next_token = page_tokens.encode(self.page_key, fingerprint, position)
        return q.ListSavedFiltersResponse(
            saved_filters=[saved_message(r) for r in rows], next_page_token=next_token
        )
