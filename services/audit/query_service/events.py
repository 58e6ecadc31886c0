"""ListEvents, GetEvent (with its diff) and ExportEvents: the caller's filter laid over a saved
one, checked, authorized at its scopes, then read from the store a keyset page at a time."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from services.audit.domain import bounds, page_tokens
from services.audit.domain.diff import FieldChange, diff
from services.audit.domain.errors import InvalidArgument, NotFound, PermissionDenied
from services.audit.domain.query import EventQuery, ScopeSelector
from services.audit.domain.records import AuditRecord
from services.audit.query_service.access import Caller
from services.audit.query_service.context import QueryContext
from services.audit.query_service.export_rows import csv_lines, json_lines
from services.audit.query_service.filter_input import FilterInput

EXPORT_PAGE = 1000
EXPORT_FORMATS = ("CSV", "JSON_LINES")


@dataclass(frozen=True)
class EventPage:
    records: list[AuditRecord]
    next_page_token: str  # "" after the last page


@dataclass(frozen=True)
class EventWithDiff:
    record: AuditRecord
    diff: list[FieldChange]


@dataclass(frozen=True)
class ExportChunk:
    data: bytes
    last_event_id: str  # where a broken-off export resumes


@dataclass(frozen=True)
class EventQueries(QueryContext):
    async def _query(
        self, caller: Caller, given: FilterInput, saved_filter_id: str
    ) -> tuple[EventQuery, bytes]:
        """The request's filter (over a saved one), authorized; and its fingerprint."""
        viewer = await self.access.viewer(caller)
        effective = given
        if saved_filter_id:
            filter_id = bounds.uuid_value(saved_filter_id, "saved_filter_id")
            saved = await self.store.get_saved_filter(filter_id, viewer.key)
            effective = given.laid_over(saved.filter)
        event_query = effective.query(self.clock(), self.retention_days)
        await self.access.require_view(caller, viewer, list(event_query.scopes))
        fingerprint = hashlib.sha256(viewer.key.encode() + effective.fingerprint()).digest()
        return event_query, fingerprint

    async def list_events(
        self, caller: Caller, given: FilterInput, saved_filter_id: str, size: int, page_token: str
    ) -> EventPage:
        """`size`: already checked (domain.query.page_size), before the caller is known."""
        event_query, fingerprint = await self._query(caller, given, saved_filter_id)
        after = None
        if page_token:
            moment, event_id = page_tokens.decode(self.page_key, fingerprint, page_token)
            after = (datetime.fromisoformat(moment), event_id)
        records = await self.store.list_events(event_query, after, size + 1)
        token = ""
        if len(records) > size:
            records = records[:size]
            last = records[-1]
            token = page_tokens.encode(
                self.page_key, fingerprint, [last.occurred_at.isoformat(), str(last.event_id)]
            )
        return EventPage(records, token)

    async def get_event(self, caller: Caller, event_id_text: str) -> EventWithDiff:
        viewer = await self.access.viewer(caller)
        event_id = bounds.uuid_value(event_id_text, "event_id")
        record = await self.store.get_event(event_id)
        if record is None:
            raise NotFound(f"event {event_id} not found")
        scope = "/".join(p for p in (record.account, record.organization, record.project) if p)
        try:
            await self.access.require_view(caller, viewer, [ScopeSelector(scope, False)])
        except PermissionDenied:
            raise NotFound(f"event {event_id} not found") from None  # not even its existence
        return EventWithDiff(record, diff(record.old_state or {}, record.new_state or {}))

    async def export_events(
        self,
        caller: Caller,
        given: FilterInput,
        saved_filter_id: str,
        export_format: str,
        resume_after_event_id: str,
    ) -> AsyncIterator[ExportChunk]:
        """`export_format`: CSV or JSON_LINES (anything else is refused once authorized)."""
        event_query, _ = await self._query(caller, given, saved_filter_id)
        if export_format not in EXPORT_FORMATS:
            raise InvalidArgument("format", "give EXPORT_FORMAT_CSV or EXPORT_FORMAT_JSON_LINES")
        after = None
        if resume_after_event_id:
            resume = bounds.uuid_value(resume_after_event_id, "resume_after_event_id")
            record = await self.store.get_event(resume)
            if record is None:
                raise NotFound(f"event {resume} not found")
            after = (record.occurred_at, str(record.event_id))
        as_csv = export_format == "CSV"
        header = as_csv and after is None
        async for page in self.store.iterate_events(event_query, after, EXPORT_PAGE):
            data = csv_lines(page, header) if as_csv else json_lines(page)
            header = False
            yield ExportChunk(data.encode(), str(page[-1].event_id))
